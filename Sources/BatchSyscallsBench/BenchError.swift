// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage

/// Why a measurement has no numbers. Each case is reported as such in the
/// table, the JSON and the report: a measurement that could not be made is
/// never replaced by a made-up one.
enum BenchError: Error, Sendable, CustomStringConvertible {
    /// The method cannot run here (no /dev/batch_syscalls, no userfaultfd).
    case unavailable(String)
    /// The measurement was not attempted (cold caches without root).
    case skipped(String)
    /// It was attempted and failed.
    case failed(String)

    /// A failed system call: what was called, and its errno.
    static func call(_ what: String, _ errno: Errno) -> BenchError {
        .failed("\(what): \(errno.nameAndMessage)")
    }

    /// A refused request: what was asked, and the module's refusal.
    static func call(_ what: String, _ error: OverlayError) -> BenchError {
        .failed("\(what): \(error)")
    }

    /// The status word of the JSON output.
    var status: String {
        switch self {
        case .unavailable: "unavailable"
        case .skipped: "skipped"
        case .failed: "failed"
        }
    }

    var reason: String {
        switch self {
        case .unavailable(let text), .skipped(let text), .failed(let text): text
        }
    }

    var description: String { "\(status): \(reason)" }
}
