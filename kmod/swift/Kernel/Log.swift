// SPDX-License-Identifier: GPL-2.0-or-later

/// The module's log: one prefixed, rate-limited line per call. Messages are
/// static text and values are integers chosen by the caller, so nothing a
/// log line shows can be a kernel address. DEBUG and TRACE lines compile
/// away unless the module is built with LOG_LEVEL=2 or 3.
enum Log {
    static func error(_ message: StaticString) { write(BS_LOG_ERROR, message) }
    static func error(_ message: StaticString, _ value: Int64) { write(BS_LOG_ERROR, message, value) }
    static func info(_ message: StaticString) { write(BS_LOG_INFO, message) }
    static func info(_ message: StaticString, _ value: Int64) { write(BS_LOG_INFO, message, value) }

    @inline(__always)
    static func debug(_ message: StaticString, _ value: Int64) {
        #if BS_LOG_DEBUG
        write(BS_LOG_DEBUG, message, value)
        #endif
    }

    @inline(__always)
    static func trace(_ message: StaticString, _ value: Int64) {
        #if BS_LOG_TRACE
        write(BS_LOG_TRACE, message, value)
        #endif
    }

    private static func write(_ level: bs_log_level, _ message: StaticString) {
        bs_log(Int32(level.rawValue), text(message), message.utf8CodeUnitCount)
    }

    private static func write(_ level: bs_log_level, _ message: StaticString, _ value: Int64) {
        bs_log_value(Int32(level.rawValue), text(message), message.utf8CodeUnitCount, value)
    }

    private static func text(_ message: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(message.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
