// SPDX-License-Identifier: GPL-2.0-or-later

/// An inclusive range of file page offsets, `first...last`, as a request
/// carries it.
///
/// Its layout (two 64-bit words, start then end) is that of the ABI's
/// `struct mem_overlay_segment_req`, so a request's segments are copied from
/// userspace straight into a buffer of `PageRange` and normalised in place.
struct PageRange: Equatable {
    var first: UInt64
    var last: UInt64

    init(first: UInt64, last: UInt64) {
        self.first = first
        self.last = last
    }

    /// Whether `page` lies in the range.
    func contains(_ page: UInt64) -> Bool { first <= page && page <= last }

    /// Whether `next`, which starts at or after `first`, overlaps this range
    /// or starts right after it, so that the two can become one range.
    func touches(_ next: PageRange) -> Bool {
        last == .max || next.first <= last + 1
    }
}

/// Limits of ABI v1 (mirrors `MEM_OVERLAY_MAX_SEGMENTS` in the uapi header).
enum SegmentLimits {
    static let maxSegments = 1 << 20
}
