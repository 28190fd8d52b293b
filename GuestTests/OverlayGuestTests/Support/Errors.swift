// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// An errno value; 0 stands for success where a result is "0 or errno".
struct Errno: Error, Equatable, CustomStringConvertible {
    let code: Int32

    init(_ code: Int32) { self.code = code }

    /// The calling thread's current errno.
    static var current: Errno { Errno(errno) }

    var description: String { Errno.describe(code) }

    /// "ENOENT (No such file or directory)": the name from the library's
    /// table (swift-system's `Errno.name`).
    static func describe(_ code: Int32) -> String {
        if code == 0 { return "success" }
        return "\(SystemPackage.Errno(rawValue: code).name) (\(String(cString: strerror(code))))"
    }
}

/// A system call that failed where the scenario needed it to succeed.
struct SysError: Error, CustomStringConvertible {
    let operation: String
    let errno: Errno

    init(_ operation: String, _ errno: Errno = .current) {
        self.operation = operation
        self.errno = errno
    }

    var description: String { "\(operation) failed: \(errno)" }
}

/// Ends a scenario (or a child of one) as failed.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Ends a scenario as skipped: it cannot run here.
struct SkipScenario: Error, CustomStringConvertible {
    let description: String
    init(_ reason: String) { description = reason }
}
