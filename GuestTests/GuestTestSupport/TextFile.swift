// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// Small text files of the kernel's (procfs, sysfs, debugfs, cgroupfs).
public enum TextFile {
    /// The whole file, read until end of file: virtual files report size 0.
    ///
    /// - Throws: the `Errno` of `open` or `read`.
    public static func read(_ path: String) throws(Errno) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Errno(rawValue: errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Errno(rawValue: errno) }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
