// SPDX-License-Identifier: GPL-2.0-or-later

/// An option of a seed program: `--name VALUE`. Every program also takes
/// `--dir D` and `--help`.
public struct SeedOption: Sendable {
    /// What values the option takes.
    public enum Kind: Sendable {
        /// A positive integer.
        case count
        /// Positive integers separated by commas (`1,10`).
        case countList
        /// Any text.
        case text
    }

    /// The option's name without the dashes.
    public let name: String
    /// The value's name in the usage text (`N`).
    public let valueName: String
    public let kind: Kind
    /// The value when the option is not given; nil: no value.
    public let defaultValue: String?
    /// One line of help.
    public let help: String

    public init(_ name: String, _ valueName: String, kind: Kind, default defaultValue: String? = nil, help: String) {
        self.name = name
        self.valueName = valueName
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
    }

    /// The option every program takes: where the data files are.
    public static let directory = SeedOption(
        "dir", "D", kind: .text, default: ".",
        help: "directory holding the data files (batch-syscalls sample-files); default: the working directory")

    /// Parses `text` as this option's kind; nil when it does not fit.
    func parse(_ text: String) -> SeedOptionValue? {
        switch kind {
        case .text:
            return .text(text)
        case .count:
            guard let value = Int(text), value > 0 else { return nil }
            return .counts([value])
        case .countList:
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
            guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { return nil }
            return .counts(values)
        }
    }
}

/// A parsed option value.
enum SeedOptionValue: Sendable {
    case text(String)
    case counts([Int])
}

/// The options of one run, parsed and checked against their kinds.
public struct SeedOptions: Sendable {
    private let values: [String: SeedOptionValue]

    init(values: [String: SeedOptionValue]) {
        self.values = values
    }

    /// The value of a `.count` option; nil when it has no default and was
    /// not given.
    public func count(_ name: String) -> Int? {
        if case .counts(let counts) = values[name] { return counts.first }
        return nil
    }

    /// The values of a `.countList` option.
    public func counts(_ name: String) -> [Int] {
        if case .counts(let counts) = values[name] { return counts }
        return []
    }

    /// The value of a `.text` option.
    public func text(_ name: String) -> String? {
        if case .text(let text) = values[name] { return text }
        return nil
    }
}
