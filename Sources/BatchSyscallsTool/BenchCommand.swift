// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import SystemPackage

/// `batch-syscalls bench`: runs `batch-syscalls-bench`, a program of its
/// own, with the same arguments. The measurements are not part of this
/// tool; the subcommand only saves looking for the other program.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run batch-syscalls-bench: overlays against a plain mmap, MAP_FIXED per segment, userfaultfd and a merged copy.",
        discussion: """
            Replaces this process with batch-syscalls-bench, found next to this \
            program or else on PATH, and hands it every argument: \
            `batch-syscalls bench --help` prints the bench's own help.

            EXAMPLES:
              A small, quick run of two methods, as JSON:
                batch-syscalls bench --pages 4096 --methods overlay,map-fixed \\
                    --caches warm --fragmentations 1 --setup-segments 1000 --json
            """
    )

    /// The name of the program run.
    static let programName = "batch-syscalls-bench"

    @Argument(parsing: .captureForPassthrough, help: "Arguments for batch-syscalls-bench.")
    var arguments: [String] = []

    func run() throws {
        let program = Self.findProgram()
        let argv = [program] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        execv(program, &cArguments)
        // execv returns only on failure.
        throw ToolFailure("run \(program)", Errno(rawValue: errno),
                          hint: "build it with `swift build --product \(Self.programName)`")
            .report(from: Self.self)
    }

    /// `batch-syscalls-bench` in this program's directory if it is there,
    /// else the bare name, looked up on PATH by execvp's rules below.
    static func findProgram() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            let executable = FilePath(String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            let sibling = executable.removingLastComponent().appending(programName).string
            if access(sibling, X_OK) == 0 { return sibling }
        }
        for directory in (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(programName)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return programName
    }
}
