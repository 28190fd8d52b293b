// SPDX-License-Identifier: GPL-2.0-or-later

/// Which file serves a page of an overlay.
enum Layer: UInt8 {
    /// The file the base mapping showed before the request.
    case base = 0
    /// The overlay file of the request.
    case overlay = 1
}

/// The segments of one overlay: sorted, merged, non-overlapping page ranges.
///
/// Built once per create request from the user's segments (validated, sorted
/// and merged in place, in the buffer they were copied into) and immutable
/// afterwards, so the page-cache fill path reads it without locks and
/// without allocating. Memory: 16 bytes a segment plus the buffer header.
struct SegmentTable: ~Copyable {
    private var buffer: PlatformBuffer<PageRange>
    /// Number of merged segments.
    private(set) var count: Int

    /// Takes `requested` ranges from the start of `buffer`, in request order
    /// and possibly overlapping, and normalises them.
    ///
    /// Throws `.noSegments` for an empty request and
    /// `.segmentEndsBeforeStart(index:)` for the first range whose end comes
    /// before its start, before changing anything.
    init(normalizing buffer: consuming PlatformBuffer<PageRange>, requested: Int) throws(OverlayError) {
        guard requested > 0 else { throw .noSegments }
        precondition(requested <= buffer.capacity)
        let ranges = UnsafeMutableBufferPointer(start: buffer.base, count: requested)
        for index in 0..<requested where ranges[index].last < ranges[index].first {
            throw .segmentEndsBeforeStart(index: index)
        }
        if !SegmentTable.isSortedByFirst(ranges) {
            SegmentTable.heapSortByFirst(ranges)
        }
        self.count = SegmentTable.mergeSorted(ranges)
        self.buffer = buffer
    }

    /// The merged ranges, in order.
    var ranges: UnsafeBufferPointer<PageRange> {
        UnsafeBufferPointer(start: buffer.base, count: count)
    }

    /// Bytes of memory this table holds.
    var footprint: Int { buffer.capacity * MemoryLayout<PageRange>.stride }

    /// The layer that serves file page `page`.
    func layer(forPage page: UInt64) -> Layer {
        let ranges = self.ranges
        let index = SegmentTable.firstIndex(in: ranges, endingAtOrAfter: page)
        return index < ranges.count && ranges[index].first <= page ? .overlay : .base
    }

    /// The runs of pages `first ..< first + count`, each served by one layer.
    func plan(first: UInt64, count: UInt64) -> FaultPlan {
        FaultPlan(ranges: ranges, first: first, count: count)
    }

    /// Number of pages in `first ..< first + count` that the overlay serves.
    func overlayPages(first: UInt64, count: UInt64) -> UInt64 {
        var total: UInt64 = 0
        for run in plan(first: first, count: count) where run.layer == .overlay {
            total += run.count
        }
        return total
    }

    // MARK: Building

    /// Checks a request's segment count before anything is allocated.
    static func checkRequested(count: Int) throws(OverlayError) {
        guard count > 0 else { throw .noSegments }
        guard count <= SegmentLimits.maxSegments else { throw .tooManySegments }
    }

    static func isSortedByFirst(_ ranges: UnsafeMutableBufferPointer<PageRange>) -> Bool {
        var index = 1
        while index < ranges.count {
            if ranges[index].first < ranges[index - 1].first { return false }
            index += 1
        }
        return true
    }

    /// In-place heap sort: O(n log n) with no allocation and no recursion,
    /// so a million segments cost neither memory nor kernel stack.
    static func heapSortByFirst(_ ranges: UnsafeMutableBufferPointer<PageRange>) {
        let count = ranges.count
        guard count > 1 else { return }
        var start = count >> 1
        while start > 0 {
            start -= 1
            siftDown(ranges, root: start, end: count)
        }
        var end = count - 1
        while end > 0 {
            ranges.swapAt(0, end)
            siftDown(ranges, root: 0, end: end)
            end -= 1
        }
    }

    private static func siftDown(_ ranges: UnsafeMutableBufferPointer<PageRange>, root: Int, end: Int) {
        var parent = root
        while true {
            var child = 2 * parent + 1
            if child >= end { return }
            if child + 1 < end && ranges[child].first < ranges[child + 1].first {
                child += 1
            }
            if ranges[parent].first >= ranges[child].first { return }
            ranges.swapAt(parent, child)
            parent = child
        }
    }

    /// Merges overlapping and adjacent ranges of a buffer sorted by `first`,
    /// in place; returns the number of ranges left at its start.
    static func mergeSorted(_ ranges: UnsafeMutableBufferPointer<PageRange>) -> Int {
        guard !ranges.isEmpty else { return 0 }
        var kept = 0
        for index in 1..<ranges.count {
            let next = ranges[index]
            if ranges[kept].touches(next) {
                if next.last > ranges[kept].last { ranges[kept].last = next.last }
            } else {
                kept += 1
                ranges[kept] = next
            }
        }
        return kept + 1
    }

    // MARK: Lookup

    /// Index of the first range whose `last` is at or after `page`
    /// (`ranges.count` if none): a binary search over sorted, disjoint ranges.
    static func firstIndex(in ranges: UnsafeBufferPointer<PageRange>, endingAtOrAfter page: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            // Shift, not `/ 2`: with -Osize a signed division becomes `idiv`.
            let middle = Int(bitPattern: UInt(bitPattern: low &+ high) >> 1)
            if ranges[middle].last < page {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}
