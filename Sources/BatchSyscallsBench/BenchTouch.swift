// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The timed loops: every page read once, then every page written once.
enum BenchTouch {
    /// Reads 8 bytes of each of `pages` pages from `address`, in order, and
    /// returns their sum (which checks what the pages show; see
    /// ``BenchDataFiles/expectedChecksum(layout:composed:)``, and keeps the
    /// loads from being optimised away).
    static func read(_ address: UnsafeRawPointer, pages: Int) -> UInt64 {
        let pageSize = MemoryPage.size
        var sum: UInt64 = 0
        for page in 0..<pages {
            sum &+= address.loadUnaligned(fromByteOffset: page * pageSize + 4, as: UInt64.self)
        }
        return sum
    }

    /// Reads 8 bytes of each page of `pages` (page numbers, in order) of
    /// the view at `address` and returns their sum, as ``read(_:pages:)``.
    static func read(_ address: UnsafeRawPointer, pages: [Int]) -> UInt64 {
        let pageSize = MemoryPage.size
        var sum: UInt64 = 0
        for page in pages {
            sum &+= address.loadUnaligned(fromByteOffset: page * pageSize + 4, as: UInt64.self)
        }
        return sum
    }

    /// Writes one byte into each of `pages` pages: a private file mapping
    /// copies each page on this write.
    static func write(_ address: UnsafeMutableRawPointer, pages: Int) {
        let pageSize = MemoryPage.size
        for page in 0..<pages {
            // Past the 16 bytes the checksum reads: a later read still checks.
            address.storeBytes(of: UInt8(truncatingIfNeeded: page) | 1, toByteOffset: page * pageSize + 64,
                               as: UInt8.self)
        }
    }
}
