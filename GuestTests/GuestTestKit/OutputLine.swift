// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// Writes whole lines with one write(2) each.
///
/// Not `print`: stdio buffers, and a buffer inherited by `fork` would be
/// written twice (once by the child, once by the parent); a line written by
/// one write(2) to a pipe also never interleaves with a line from another
/// thread or process.
public enum OutputLine {
    /// Standard output.
    public static let standardOutput: CInt = 1
    /// Standard error.
    public static let standardError: CInt = 2

    /// Writes `text` and a newline to `descriptor`.
    public static func write(_ text: String, to descriptor: CInt = standardOutput) {
        writeAll(text + "\n", to: descriptor)
    }

    /// Writes all of `text` to `descriptor` (a pipe, a file); whether it
    /// all went.
    @discardableResult
    public static func writeAll(_ text: String, to descriptor: CInt) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                // Nowhere left to report a failed write to: drop the rest.
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }
    }
}
