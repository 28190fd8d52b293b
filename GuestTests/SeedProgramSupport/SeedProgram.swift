// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import SampleFiles

/// A seed program: a command (swift-argument-parser: its options, --help,
/// validation) that opens the device, finds the sample files and makes its
/// checks, each one TAP line.
///
/// Exit statuses: 0 every check passed, 1 a check failed (a missing sample
/// file is a failure: the data is part of the test), 64 bad usage, 77 the
/// program cannot run here (no module, not root).
public protocol SeedProgram: ParsableCommand {
    /// The program's name (`page_fault`): by default the executable's, which
    /// Package.swift names after the program's directory.
    static var name: String { get }
    /// What it checks, in one line.
    static var abstract: String { get }
    /// What it does, for --help.
    static var details: String { get }
    /// Whether the program can run without the device.
    static var deviceNeed: SeedRun.DeviceNeed { get }
    /// The sample files the program reads.
    static var files: [DataFile] { get }
    /// `--dir`.
    var common: SeedOptions { get }
    /// The checks, on a run that has started; ends the process with
    /// ``SeedRun/finish()``.
    func check(_ run: SeedRun) -> Never
}

extension SeedProgram {
    /// The name, the abstract and the details, then what every seed
    /// program prints and how it exits.
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: name, abstract: abstract, discussion: details + "\n\n" + outputHelp)
    }

    public static var name: String {
        CommandLine.arguments.first.flatMap { $0.split(separator: "/").last.map(String.init) } ?? "seed program"
    }

    public static var deviceNeed: SeedRun.DeviceNeed { .required }
    public static var files: [DataFile] { [.base, .overlay] }

    public func run() throws {
        check(SeedRun.start(Self.name, device: Self.deviceNeed, files: Self.files, directory: common.directory))
    }

    /// What every seed program's --help says last: its output and exit
    /// statuses.
    public static var outputHelp: String {
        """
        Output: TAP version 13, one test line per check (`ok - ...`, `not ok - ...`, \
        `ok - ... # SKIP reason` for a part that cannot run here), diagnostics and \
        measurements as `# ...` lines. Exit status: 0 all checks passed, 1 a check failed \
        or a sample file is missing (run `batch-syscalls sample-files`), 64 bad usage, 77 \
        skipped (no /dev/batch_syscalls, not root).
        """
    }
}
