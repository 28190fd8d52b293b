// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

extension Errno {
    /// The symbolic name of the error (`"ENOENT"`), or `"errno N"` for one
    /// this table does not know. swift-system's `description` gives the
    /// message ("No such file or directory").
    public var name: String {
        errnoNames[rawValue] ?? "errno \(rawValue)"
    }

    /// The name and the message, `"ENOENT (No such file or directory)"`:
    /// the name to search for, the message to read. Every message of the
    /// package that shows an errno shows it this way.
    public var nameAndMessage: String {
        "\(name) (\(description))"
    }

    /// The errno of the calling thread, as the last failed C call left it.
    package static var current: Errno { Errno(rawValue: errno) }

    /// Runs swift-system calls, whose `throws` is untyped although they
    /// throw only `Errno`, with the error typed.
    package static func rethrowing<Result>(_ body: () throws -> Result) throws(Errno) -> Result {
        do {
            return try body()
        } catch let error as Errno {
            throw error
        } catch {
            preconditionFailure("swift-system threw a non-Errno error: \(error)")
        }
    }
}

/// Symbolic names of the errno values a tool may meet (outside the
/// extension: inside it, `EPERM` names swift-system's deprecated member).
private let errnoNames: [CInt: String] = [
    EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
    ENXIO: "ENXIO", E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD",
    EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
    EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR",
    EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", EFBIG: "EFBIG",
    ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS", ERANGE: "ERANGE", ELOOP: "ELOOP",
    ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", EOVERFLOW: "EOVERFLOW",
    EOPNOTSUPP: "EOPNOTSUPP", ETIMEDOUT: "ETIMEDOUT", ETXTBSY: "ETXTBSY", EKEYREJECTED: "EKEYREJECTED",
]
