// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// An errno value; 0 stands for success where a result is "0 or errno".
struct Errno: Error, Equatable, CustomStringConvertible {
    let code: Int32

    init(_ code: Int32) { self.code = code }

    /// The calling thread's current errno.
    static var current: Errno { Errno(errno) }

    var description: String { Errno.describe(code) }

    static func describe(_ code: Int32) -> String {
        if code == 0 { return "success" }
        let name = names[code] ?? "errno \(code)"
        return "\(name) (\(String(cString: strerror(code))))"
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        ENXIO: "ENXIO", E2BIG: "E2BIG", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
        EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV",
        EINVAL: "EINVAL", ENOTTY: "ENOTTY", EFBIG: "EFBIG", ENOSPC: "ENOSPC", EROFS: "EROFS",
        ERANGE: "ERANGE", ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP", EOVERFLOW: "EOVERFLOW",
        ETIMEDOUT: "ETIMEDOUT", ENOEXEC: "ENOEXEC", EKEYREJECTED: "EKEYREJECTED",
    ]
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
