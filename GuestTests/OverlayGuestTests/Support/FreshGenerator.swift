// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import SampleFiles

/// A generator seeded from the clock and pid, for data that must differ
/// from everything on disk.
func freshGenerator() -> SplitMix64 {
    SplitMix64(seed: UInt64(bitPattern: Int64(Stopwatch.nowSeconds() * 1e9)) ^ (UInt64(getpid()) << 32))
}

extension SplitMix64 {
    /// A page of fresh bytes (the data a test writes into a mapping).
    mutating func page() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: pageSize)
        bytes.withUnsafeMutableBytes { fill($0) }
        return bytes
    }
}
