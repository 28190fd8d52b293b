// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The pages a request's segments cover: the union of its inclusive page
/// ranges, sorted and merged (the module accepts unsorted, overlapping and
/// touching segments and must show exactly their union), with a membership
/// test that takes O(log n) for n merged runs.
public struct PageSet: Sendable, Equatable {
    /// Sorted, disjoint, non-adjacent ranges.
    public let ranges: [ClosedRange<Int>]

    /// The pages `segments` cover.
    public init(_ segments: SegmentList) {
        ranges = segments.merged
    }

    /// The pages `ranges` cover (no page may be negative).
    public init(_ ranges: [ClosedRange<Int>]) {
        self.init(SegmentList(trusted: ranges))
    }

    /// Whether `page` is in the set.
    public func contains(_ page: Int) -> Bool {
        ranges.mergedRangesContain(page)
    }
}
