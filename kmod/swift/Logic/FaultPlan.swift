// SPDX-License-Identifier: GPL-2.0-or-later

/// A run of consecutive pages served by one layer.
struct LayerRun: Equatable {
    var layer: LayerIndex
    var first: UInt64
    var count: UInt64

    init(layer: LayerIndex, first: UInt64, count: UInt64) {
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
    private let segments: UnsafeBufferPointer<LayerSegment>
    private var index: Int
    private var cursor: UInt64
    private let end: UInt64

    init(segments: UnsafeBufferPointer<LayerSegment>, first: UInt64, count: UInt64) {
        self.segments = segments
        self.cursor = first
        let (end, overflow) = first.addingReportingOverflow(count)
        self.end = overflow ? .max : end
        self.index = SegmentTable.firstIndex(in: segments, endingAtOrAfter: first)
    }

    mutating func next() -> LayerRun? {
        guard cursor < end else { return nil }
        let start = cursor
        var layer = Layers.base
        var stop = end
        if index < segments.count {
            let segment = segments[index]
            if segment.first <= start {
                // Inside a segment: up to its end or the end of the range.
                layer = segment.layer
                stop = segment.last >= end - 1 ? end : segment.last + 1
                index += 1
            } else {
                // Before the next segment: the base serves.
                stop = Swift.min(segment.first, end)
            }
        }
        cursor = stop
        return LayerRun(layer: layer, first: start, count: stop - start)
    }
}
