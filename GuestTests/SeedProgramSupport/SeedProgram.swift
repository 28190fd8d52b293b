// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// What a seed program is (name, what it checks, options) and how it
/// starts: parse the command line, open the device, find the data files, or
/// exit with the status its caller expects.
///
/// Exit statuses: 0 every check passed, 1 a check failed (a missing data
/// file is a failure: the data is part of the test), 2 bad usage, 77 the
/// program cannot run here (`SKIP: reason`: no module, not root).
public struct SeedProgram: Sendable {
    /// Whether the program needs `/dev/batch_syscalls`.
    public enum DeviceNeed: Sendable {
        /// Without the device the program skips (exit 77).
        case required
        /// Without the device the program runs its other parts.
        case optional
    }

    public let name: String
    /// What the program checks, for `--help`.
    public let abstract: String
    /// The program's own options (`--dir` and `--help` come with every one).
    public let options: [SeedOption]

    public init(name: String, abstract: String, options: [SeedOption] = []) {
        self.name = name
        self.abstract = abstract
        self.options = [.directory] + options
    }

    /// The `--help` text.
    public var usage: String {
        let synopsis = options.map { "[--\($0.name) \($0.valueName)]" }.joined(separator: " ")
        var lines = ["usage: \(name) \(synopsis) [--help]", "", abstract, "", "options:"]
        let width = (options.map { $0.name.count + $0.valueName.count + 3 }.max() ?? 0) + 2
        for option in options {
            let head = "--\(option.name) \(option.valueName)"
            let fallback = option.defaultValue.map { option.name == "dir" ? "" : " (default \($0))" } ?? ""
            lines.append("  " + head.padded(to: width) + option.help + fallback)
        }
        lines.append("  " + "--help".padded(to: width) + "this text")
        lines += ["", """
            Output: one line per check (`ok - ...` or `FAIL - ...`), `skip - ...` for a
            part that cannot run here, `# ...` for notes and measurements, then a
            summary line. Exit status: 0 all checks passed, 1 a check failed or a
            data file is missing (run `batch-syscalls sample-files`), 2 bad usage,
            77 skipped (`SKIP: reason`: no /dev/batch_syscalls, not root).
            """]
        return lines.joined(separator: "\n")
    }

    /// Parses the command line, opens the device and checks the data files;
    /// exits when the program cannot go on (usage, skip or missing data).
    ///
    /// - Parameters:
    ///   - device: whether the program can run without the device.
    ///   - files: the data files the program needs.
    public func start(device need: DeviceNeed, files: [DataFile],
                      arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> SeedRun {
        let options = parse(arguments)
        let report = CheckReport(program: name)
        var device: OverlayDevice?
        var unavailable: String?
        switch SeedRun.openDevice() {
        case .success(let opened):
            device = opened
        case .failure(.unavailable(let reason)):
            if need == .required { skip(reason) }
            unavailable = reason
        case .failure(.broken(let reason)):
            report.fail(reason)
            report.finish()
        }
        let data = SeedData(directory: FilePath(options.text("dir") ?? "."))
        let missing = files.filter { !data.exists($0) }
        if !missing.isEmpty {
            let names = missing.map(\.name).joined(separator: ", ")
            report.fail("\(names) not found in \(data.directory): run batch-syscalls sample-files (or pass --dir D)")
            report.finish()
        }
        return SeedRun(options: options, report: report, data: data, openDevice: device,
                       deviceUnavailableReason: unavailable)
    }

    /// Prints `SKIP: reason` and exits 77.
    public func skip(_ reason: String) -> Never {
        OutputLine.write("SKIP: \(reason)")
        exit(ExitStatus.skipped)
    }

    private func parse(_ arguments: [String]) -> SeedOptions {
        var values: [String: SeedOptionValue] = [:]
        for option in options {
            if let text = option.defaultValue, let value = option.parse(text) { values[option.name] = value }
        }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" {
                OutputLine.write(usage)
                exit(ExitStatus.passed)
            }
            // `--name value` or `--name=value`.
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            guard name.hasPrefix("--"), let option = options.first(where: { "--" + $0.name == name }) else {
                usageError("unknown argument '\(argument)'")
            }
            guard let text = inlineValue ?? (index < arguments.count ? arguments[index] : nil) else {
                usageError("--\(option.name) needs a value (\(option.valueName))")
            }
            if inlineValue == nil { index += 1 }
            guard let value = option.parse(text) else {
                let expected = switch option.kind {
                case .count: "a positive integer"
                case .countList: "positive integers separated by commas"
                case .text: "text"
                }
                usageError("--\(option.name) '\(text)': expected \(expected)")
            }
            values[option.name] = value
        }
        return SeedOptions(values: values)
    }

    private func usageError(_ message: String) -> Never {
        OutputLine.write("\(name): \(message) (see --help)", to: OutputLine.standardError)
        exit(ExitStatus.usage)
    }
}

extension String {
    /// The string followed by spaces up to `width` characters (at least one).
    func padded(to width: Int) -> String {
        self + String(repeating: " ", count: Swift.max(1, width - count))
    }
}
