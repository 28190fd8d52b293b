// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// Small text files of the kernel's (procfs, sysfs, debugfs, cgroupfs).
///
/// `package`: the library reads the module's listing with it, and every
/// other program of the package (the tests, the bench) reads and writes
/// the kernel's files with it too.
package enum TextFile {
    /// The whole file, read until end of file: virtual files report size 0.
    ///
    /// - Throws: the `Errno` of `open` or `read`.
    package static func read(_ path: FilePath) throws(Errno) -> String {
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
            return try descriptor.closeAfter {
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0) }
                    if count == 0 { break }
                    bytes += chunk[0..<count]
                }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    /// Writes `value` with one write(2), as `echo value > path` does (a
    /// kernel file takes one write as one setting).
    ///
    /// - Throws: the `Errno` of `open` or `write`; `EIO` for a short write.
    package static func write(_ path: FilePath, _ value: String) throws(Errno) {
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(path, .writeOnly, options: .closeOnExec)
            try descriptor.closeAfter {
                let bytes = Array(value.utf8)
                let written = try bytes.withUnsafeBytes { try descriptor.write($0) }
                if written != bytes.count { throw Errno.ioError }
            }
        }
    }
}
