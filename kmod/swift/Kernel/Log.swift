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

    private static func write(_ level: Int32, _ message: StaticString, _ value: Int64?) {
        let text = UnsafeRawPointer(message.utf8Start).assumingMemoryBound(to: CChar.self)
        bs_log(level, text, message.utf8CodeUnitCount, value != nil, value ?? 0)
    }
}
