// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls

/// The pages a restore will touch first, as recorded from an earlier run:
/// file page offsets of the base mapping (= page offsets of the overlay),
/// in sorted, merged ranges.
///
/// Handed to ``OverlayDevice/stack(base:layers:loadingSet:populate:)``,
/// the module starts reading these pages, from whichever layer serves
/// each, as soon as the overlay is published, and returns without waiting;
/// with `populate` it also maps them read-only before it returns. Pages
/// past the mapping's end are ignored by the module.
///
/// A set is canonical: its ranges are sorted, none is empty, and no two
/// overlap or touch (touching ranges are merged), so two sets of the same
/// pages are equal. It holds no negative page, no page whose byte offset
/// does not fit a file offset (``maximumPage``), and at most
/// ``SegmentList/maximumCount`` ranges, the most one request may carry. It
/// may be empty (a run that touched nothing); an empty set is sent as no
/// set at all.
///
/// Record one with ``recordResident(process:address:length:firstFilePage:)``,
/// keep it in a file with ``write(to:)`` and read it back with
/// ``init(contentsOf:pageSize:)``.
public struct LoadingSet: Sendable, Equatable, Hashable {
    /// The largest page a set may hold: its byte offset still fits a
    /// signed 64-bit file offset.
    public static var maximumPage: Int { Int.max / MemoryPage.size - 1 }

    /// The ranges of pages, sorted, merged, non-empty.
    public let ranges: [ClosedRange<Int>]

    /// No pages.
    public static let empty = LoadingSet(canonical: [])

    /// The set of the pages in `ranges`, which may be unsorted and may
    /// overlap or touch: they are merged.
    ///
    /// - Throws: ``SegmentError/negativePage(index:page:)``,
    ///   ``SegmentError/pageTooLarge(index:page:limit:)`` (a page above
    ///   ``maximumPage``), or ``SegmentError/tooManySegments(count:limit:)``
    ///   when more than ``SegmentList/maximumCount`` ranges remain merged.
    public init(_ ranges: some Sequence<ClosedRange<Int>>) throws(SegmentError) {
        let ranges = Array(ranges)
        if let index = ranges.firstIndex(where: { $0.lowerBound < 0 }) {
            throw .negativePage(index: index, page: ranges[index].lowerBound)
        }
        if let index = ranges.firstIndex(where: { $0.upperBound > Self.maximumPage }) {
            throw .pageTooLarge(index: index, page: ranges[index].upperBound, limit: Self.maximumPage)
        }
        let merged = ranges.isEmpty ? [] : SegmentList(trusted: ranges).merged
        guard merged.count <= SegmentList.maximumCount else {
            throw .tooManySegments(count: merged.count, limit: SegmentList.maximumCount)
        }
        self.ranges = merged
    }

    /// The set of the pages of `segments`.
    ///
    /// - Throws: ``SegmentError/pageTooLarge(index:page:limit:)``.
    public init(segments: SegmentList) throws(SegmentError) {
        try self.init(segments.ranges)
    }

    /// The set of `pages`, in any order, repeats allowed.
    ///
    /// - Throws: as ``init(_:)``.
    public init(pages: some Sequence<Int>) throws(SegmentError) {
        try self.init(pages.map { $0...$0 })
    }

    /// Ranges already sorted, merged and checked (the package's own).
    package init(canonical ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// Whether the set holds no page.
    public var isEmpty: Bool { ranges.isEmpty }

    /// The number of pages in the set.
    public var pageCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// The pages in the set, in order.
    public var pages: some Sequence<Int> { ranges.lazy.flatMap { $0 } }

    /// Whether `page` is in the set.
    public func contains(_ page: Int) -> Bool {
        ranges.mergedRangesContain(page)
    }

    /// The set's ranges as a segment list (nil for the empty set, which no
    /// segment list holds).
    public var segments: SegmentList? {
        isEmpty ? nil : SegmentList(trusted: ranges)
    }

    /// The ranges in the ABI's layout (`struct mem_overlay_segment_req`).
    package var abiSegments: [mem_overlay_segment_req] {
        ranges.map { ABI.segment(start: UInt($0.lowerBound), end: UInt($0.upperBound)) }
    }
}

extension Array where Element == ClosedRange<Int> {
    /// Whether sorted, disjoint ranges (``SegmentList/merged``) hold
    /// `page`: a binary search, O(log n).
    package func mergedRangesContain(_ page: Int) -> Bool {
        // The first range ending at or after `page`.
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle].upperBound < page { low = middle + 1 } else { high = middle }
        }
        return low < count && self[low].contains(page)
    }
}
