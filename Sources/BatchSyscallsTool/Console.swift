// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// The tool's output: whole lines written straight to standard output or
/// standard error with write(2).
///
/// Not `print`: stdio buffers a pipe or file fully, so `apply --hold`
/// running in the background would keep its "holding" line to itself until
/// it exits, and lines on the two streams would come out of order.
enum Console {
    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        write(text + "\n", to: .standardOutput)
    }

    /// Writes `text` and a newline to standard error.
    static func error(_ text: String) {
        write(text + "\n", to: .standardError)
    }

    /// Writes `text` as it is (no newline), for progress drawn in place.
    static func write(_ text: String, to descriptor: FileDescriptor) {
        // A closed or full stream is no reason to fail the command: the
        // files and the overlay matter, the report is a courtesy.
        _ = try? Array(text.utf8).withUnsafeBytes { try descriptor.writeAll($0) }
    }

    /// Whether `descriptor` is a terminal.
    static func isTerminal(_ descriptor: FileDescriptor) -> Bool {
        isatty(descriptor.rawValue) == 1
    }

    /// The terminal's width in columns, or 80 when it does not say.
    static func columns(of descriptor: FileDescriptor) -> Int {
        var size = winsize()
        guard ioctl(descriptor.rawValue, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
