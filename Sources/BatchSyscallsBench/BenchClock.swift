// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`): unaffected by clock
/// changes, which matters for intervals measured across a guest's boot.
enum BenchClock {
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// The nanoseconds `body` takes.
    static func measure(_ body: () throws -> Void) rethrows -> UInt64 {
        let start = now()
        try body()
        return now() - start
    }
}
