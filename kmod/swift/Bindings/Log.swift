// SPDX-License-Identifier: GPL-2.0-or-later

/// The module's log: one prefixed, rate-limited line per call. Messages are
/// static text and values are integers chosen by the caller, so nothing a
/// log line shows can be a kernel address. DEBUG and TRACE lines compile
/// away unless the module is built with LOG_LEVEL=2 or 3.
enum Log {
    static func error(_ message: StaticString, _ value: Int64? = nil) { write(0, message, value) }
    static func info(_ message: StaticString, _ value: Int64? = nil) { write(1, message, value) }

    @inline(__always)
    static func debug(_ message: StaticString, _ value: Int64? = nil) {
        #if BS_LOG_DEBUG
        write(2, message, value)
        #endif
    }

    @inline(__always)
    static func trace(_ message: StaticString, _ value: Int64? = nil) {
        #if BS_LOG_TRACE
        write(3, message, value)
        #endif
    }

    /// Formats "message value" on the stack (the longest message is far
    /// below 128 bytes; a longer line would be cut, not overflow).
    private static func write(_ level: Int32, _ message: StaticString, _ value: Int64?) {
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 1) { buffer in
            var line = TextBuffer(buffer)
            line.append(message)
            if let value {
                line.append(value < 0 ? " -" : " ")
                line.append(value.magnitude)
            }
            bs_log(level, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), line.count)
        }
    }
}
