// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// The one clock of the guest programs: `CLOCK_MONOTONIC`, unaffected by
/// clock changes (which matters for intervals measured across a guest's
/// boot), and a stopwatch on it.
public struct Stopwatch: Sendable {
    private let start: UInt64

    /// Starts timing now.
    public init() {
        start = Self.now()
    }

    /// Nanoseconds since the stopwatch started.
    public var elapsedNanoseconds: UInt64 { Self.now() - start }

    /// Seconds since the stopwatch started.
    public var elapsedSeconds: Double { Double(elapsedNanoseconds) / 1e9 }

    /// Runs `body` and returns its result with the nanoseconds it took.
    public static func measure<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> (result: Result, nanoseconds: UInt64) {
        let stopwatch = Stopwatch()
        let result = try body()
        return (result, stopwatch.elapsedNanoseconds)
    }

    /// The nanoseconds `body` takes.
    public static func nanoseconds<Failure: Error>(_ body: () throws(Failure) -> Void) throws(Failure) -> UInt64 {
        try measure(body).nanoseconds
    }

    /// The clock now, in nanoseconds.
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// The clock now, in seconds.
    public static func nowSeconds() -> Double {
        Double(now()) / 1e9
    }

    /// Sleeps `seconds` seconds (a signal does not cut it short).
    public static func sleep(seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
