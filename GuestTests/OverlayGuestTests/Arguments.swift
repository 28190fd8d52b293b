// SPDX-License-Identifier: GPL-2.0-or-later

/// `overlay-tests <subcommand> [--option value | --option=value]...`
struct Arguments {
    let subcommand: String
    private var values: [String: String] = [:]

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses `arguments` (without the program name); `options` are the
    /// option names the subcommand accepts, each taking a value.
    init(_ arguments: [String], options: Set<String>) throws {
        guard let first = arguments.first else { throw Invalid(description: "missing subcommand") }
        subcommand = first
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else { throw Invalid(description: "unexpected argument '\(argument)'") }
            var name = String(argument.dropFirst(2))
            var value: String? = nil
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard options.contains(name) else { throw Invalid(description: "unknown option --\(name) for \(subcommand)") }
            if value == nil {
                index += 1
                guard index < arguments.count else { throw Invalid(description: "--\(name) needs a value") }
                value = arguments[index]
            }
            values[name] = value
            index += 1
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func integer(_ name: String, default defaultValue: Int) throws -> Int {
        guard let text = values[name] else { return defaultValue }
        guard let value = Int(text), value >= 0 else { throw Invalid(description: "--\(name) wants a non-negative integer, not '\(text)'") }
        return value
    }

    func unsigned64(_ name: String, default defaultValue: UInt64) throws -> UInt64 {
        guard let text = values[name] else { return defaultValue }
        let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let value else { throw Invalid(description: "--\(name) wants an integer, not '\(text)'") }
        return value
    }
}
