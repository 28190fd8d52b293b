// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

extension Errno {
    /// ``nameAndMessage`` for a result that is 0 for success or an errno.
    static func describe(_ code: Int32) -> String {
        code == 0 ? "success" : Errno(rawValue: code).nameAndMessage
    }
}

/// 0 when `request` succeeds, else the errno it threw: a result as
/// `expectErrno` compares it (`errnoCode(try device.cleanup(id))`).
func errnoCode(_ request: @autoclosure () throws(Errno) -> Void) -> Int32 {
    do {
        try request()
        return 0
    } catch {
        return error.rawValue
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
