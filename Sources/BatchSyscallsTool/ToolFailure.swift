// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import MemoryOverlay
import SystemPackage

/// A subcommand's failure, reported on standard error as
/// `batch-syscalls <subcommand>: <what failed>: ENOENT (No such file or directory)`.
///
/// ArgumentParser would print any other error as `Error: ...`, without the
/// errno's name; subcommands catch this one and exit through ``report(from:)``.
struct ToolFailure: Error, CustomStringConvertible {
    /// What failed, and why, in words.
    var description: String
    /// The exit status: 1 for a failed operation, 64 for bad input.
    var exitCode: ExitCode

    /// A failed operation: `what` ("open /dev/batch_syscalls") and its
    /// errno, with an optional hint on what the errno means here.
    init(_ what: String, _ errno: Errno, hint: String? = nil, exitCode: ExitCode = .failure) {
        description = "\(what): \(errno.nameAndMessage)" + (hint.map { ": \($0)" } ?? "")
        self.exitCode = exitCode
    }

    /// A request the module (or its device) refused: `what` ("create the
    /// overlay"), the refusal in the ABI's words and its errno's name, and
    /// an optional hint on what it means here.
    init(_ what: String, _ error: OverlayError, hint: String? = nil, exitCode: ExitCode = .failure) {
        description = "\(what): \(error)" + (hint.map { ": \($0)" } ?? "")
        self.exitCode = exitCode
    }

    /// A failure that no errno describes.
    init(_ message: String, exitCode: ExitCode = .failure) {
        description = message
        self.exitCode = exitCode
    }

    /// Prints the failure on behalf of `command` and returns the exit code
    /// to throw.
    func report(from command: any ParsableCommand.Type) -> ExitCode {
        Console.error("batch-syscalls \(command.configuration.commandName ?? "?"): \(description)")
        return exitCode
    }
}
