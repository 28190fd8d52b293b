// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// A pipe used as a one-way event between processes: a byte means "go",
/// end of file means the other side went away (or opened the gate: every
/// process waiting in ``receive(timeout:)`` is released at once when the
/// last write end closes).
public struct EventPipe: Sendable {
    /// The end ``receive(timeout:)`` reads.
    public let readEnd: CInt
    /// The end ``send(_:)`` writes.
    public let writeEnd: CInt

    /// - Throws: the `Errno` of `pipe`.
    public init() throws(Errno) {
        var ends: [CInt] = [0, 0]
        guard pipe(&ends) == 0 else { throw .current }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    /// Writes one byte.
    public func send(_ byte: UInt8 = 1) {
        var value = byte
        _ = Glibc.write(writeEnd, &value, 1)
    }

    /// The next byte, or nil at end of file or after `timeout` seconds.
    public func receive(timeout: Double = 120) -> UInt8? {
        var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let deadline = Stopwatch.nowSeconds() + timeout
        while true {
            let left = deadline - Stopwatch.nowSeconds()
            if left <= 0 { return nil }
            let ready = poll(&descriptor, 1, Int32(Swift.min(left, 1) * 1000))
            if ready < 0 && errno != EINTR { return nil }
            if ready > 0 {
                var value: UInt8 = 0
                let count = Glibc.read(readEnd, &value, 1)
                if count < 0 && errno == EINTR { continue }
                return count == 1 ? value : nil
            }
        }
    }

    public func closeRead() { close(readEnd) }
    public func closeWrite() { close(writeEnd) }
    public func closeBoth() { close(readEnd); close(writeEnd) }
}
