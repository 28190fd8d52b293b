// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// Elapsed time on the monotonic clock, in nanoseconds.
public struct Stopwatch: Sendable {
    private let start: UInt64

    /// Starts timing now.
    public init() {
        start = Self.now()
    }

    /// Nanoseconds since the stopwatch started.
    public var elapsedNanoseconds: UInt64 { Self.now() - start }

    /// Runs `body` and returns its result with the nanoseconds it took.
    public static func measure<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> (result: Result, nanoseconds: UInt64) {
        let stopwatch = Stopwatch()
        let result = try body()
        return (result, stopwatch.elapsedNanoseconds)
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
