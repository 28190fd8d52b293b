// SPDX-License-Identifier: GPL-2.0-or-later

/// A run of consecutive pages served by one layer.
struct LayerRun: Equatable {
    var layer: Layer
    var first: UInt64
    var count: UInt64

    init(layer: Layer, first: UInt64, count: UInt64) {
        self.layer = layer
        self.first = first
        self.count = count
    }
}

/// Splits a range of pages being read into the page cache (one `read_folio`
/// or one readahead batch) into maximal runs served by one layer each, so
/// that each run is one read of one file.
///
/// One binary search to start, then a walk: O(log n + runs), no allocation.
/// The plan borrows the segment table's storage: use it only while the table
/// is alive (the overlay outlives every read of its page cache).
struct FaultPlan: Sequence, IteratorProtocol {
    private let ranges: UnsafeBufferPointer<PageRange>
    private var index: Int
    private var cursor: UInt64
    private let end: UInt64

    init(ranges: UnsafeBufferPointer<PageRange>, first: UInt64, count: UInt64) {
        self.ranges = ranges
        self.cursor = first
        let (end, overflow) = first.addingReportingOverflow(count)
        self.end = overflow ? .max : end
        self.index = SegmentTable.firstIndex(in: ranges, endingAtOrAfter: first)
    }

    mutating func next() -> LayerRun? {
        guard cursor < end else { return nil }
        let start = cursor
        if index < ranges.count && ranges[index].first <= start {
            // Inside a segment: up to its end or the end of the range.
            let segmentEnd = ranges[index].last
            let stop = segmentEnd >= end - 1 ? end : segmentEnd + 1
            index += 1
            cursor = stop
            return LayerRun(layer: .overlay, first: start, count: stop - start)
        }
        // Before the next segment (or past the last one): the base serves.
        let stop = index < ranges.count ? Swift.min(ranges[index].first, end) : end
        cursor = stop
        return LayerRun(layer: .base, first: start, count: stop - start)
    }
}
