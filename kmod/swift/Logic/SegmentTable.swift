// SPDX-License-Identifier: GPL-2.0-or-later

/// Which layer serves each page of an overlay: sorted, disjoint segments,
/// each naming its layer; pages no segment covers come from the base.
///
/// A table is built once, by a create request, and is immutable afterwards,
/// so the page-cache fill path reads it without locks and without
/// allocating. Memory: 16 bytes a segment plus the buffer header.
struct SegmentTable: ~Copyable {
    private var storage: PlatformBuffer<LayerSegment>
    /// Number of segments.
    private(set) var count: Int

    /// The segments, in page order.
    var segments: UnsafeBufferPointer<LayerSegment> {
        UnsafeBufferPointer(start: storage.base, count: count)
    }

    /// Bytes of memory the table holds.
    var footprint: Int { storage.capacity * MemoryLayout<LayerSegment>.stride }

    /// Checks a request's segment count before anything is allocated.
    static func checkRequested(count: Int) throws(OverlayError) {
        guard count > 0 else { throw .noSegments }
        guard count <= SegmentLimits.maxSegments else { throw .tooManySegments }
    }

    // MARK: Building

    /// The table of one request: the first `requested` ranges of `buffer`,
    /// in request order and possibly overlapping or unsorted, all served by
    /// `layer`. Normalised in place: no memory beyond the request's own.
    ///
    /// Throws `.noSegments` for an empty request and
    /// `.segmentEndsBeforeStart(index:)` for the first range whose end comes
    /// before its start, before changing anything.
    init(request buffer: consuming PlatformBuffer<PageRange>, requested: Int,
         layer: LayerIndex) throws(OverlayError) {
        guard requested > 0 else { throw .noSegments }
        precondition(requested <= buffer.capacity && layer != Layers.base)
        let ranges = UnsafeMutableBufferPointer(start: buffer.base, count: requested)
        for index in 0..<requested where ranges[index].last < ranges[index].first {
            throw .segmentEndsBeforeStart(index: index)
        }
        if !SegmentTable.isSortedByFirst(ranges) {
            SegmentTable.heapSortByFirst(ranges)
        }
        let merged = SegmentTable.mergeSorted(ranges)

        // Same 16 bytes an entry: store each segment over its range. Ranges
        // above the last page that can exist serve nothing and are dropped.
        var kept = 0
        let raw = UnsafeMutableRawPointer(buffer.base)
        for index in 0..<merged where ranges[index].first <= LayerSegment.maxPage {
            let range = ranges[index]
            let segment = LayerSegment(first: range.first,
                                       last: Swift.min(range.last, LayerSegment.maxPage), layer: layer)
            raw.storeBytes(of: segment, toByteOffset: index * MemoryLayout<LayerSegment>.stride,
                           as: LayerSegment.self)
            kept = index + 1
        }
        self.storage = buffer.rebound(to: LayerSegment.self)
        self.count = kept
    }

    /// `upper` laid over `lower`: pages that `upper` covers come from its
    /// layers (or all from `layer`, when given), all others from `lower`'s.
    /// Linear in both tables.
    init(laying upper: borrowing SegmentTable, servedBy layer: LayerIndex? = nil,
         over lower: borrowing SegmentTable) throws(OverlayError) {
        storage = try PlatformBuffer<LayerSegment>(capacity: lower.count + 2 * upper.count,
                                                   chargedToCaller: true)
        count = 0
        let below = lower.segments
        var index = 0
        var pending: LayerSegment? = below.first
        func advance() {
            index += 1
            pending = index < below.count ? below[index] : nil
        }
        for segment in upper.segments {
            while let part = pending, part.last < segment.first {
                append(part)
                advance()
            }
            if let part = pending, part.first < segment.first {
                append(part.ending(at: segment.first - 1))
            }
            append(layer.map { segment.served(by: $0) } ?? segment)
            while let part = pending, part.last <= segment.last { advance() }
            if let part = pending, part.first <= segment.last {
                pending = part.starting(at: segment.last + 1)
            }
        }
        while let part = pending {
            append(part)
            advance()
        }
    }

    /// An empty table: every page comes from the base.
    init() throws(OverlayError) {
        storage = try PlatformBuffer<LayerSegment>(capacity: 1, chargedToCaller: true)
        count = 0
    }

    /// The pages `pages` covers (its layers are ignored), each served by
    /// the layer `source` names for it, or by `source`'s base (layer 0)
    /// where `source` has no segment. A layer that is itself an overlay file
    /// is laid this way: its own stack, cut to the request's pages, takes
    /// the layer's place, so reads never go through a second overlay.
    /// Linear in both tables.
    init(selecting pages: borrowing SegmentTable, from source: borrowing SegmentTable) throws(OverlayError) {
        // Every boundary of either table starts at most one more piece.
        storage = try PlatformBuffer<LayerSegment>(capacity: pages.count + 2 * source.count,
                                                   chargedToCaller: true)
        count = 0
        let served = source.segments
        var index = 0
        for wanted in pages.segments {
            while index < served.count && served[index].last < wanted.first { index += 1 }
            var cursor = wanted.first
            while true {
                let piece: LayerSegment
                if index < served.count && served[index].first <= cursor {
                    piece = LayerSegment(first: cursor, last: Swift.min(served[index].last, wanted.last),
                                         layer: served[index].layer)
                } else {
                    // A gap of `source`: its base, up to its next segment.
                    let next = index < served.count ? served[index].first : UInt64.max
                    piece = LayerSegment(first: cursor, last: Swift.min(next - 1, wanted.last), layer: Layers.base)
                }
                append(piece)
                if piece.last == wanted.last { break }
                if index < served.count && served[index].last == piece.last { index += 1 }
                cursor = piece.last + 1
            }
        }
    }

    /// Appends a segment that starts after the last one, joining the two
    /// when they touch and share a layer. Capacity is the caller's to ensure.
    private mutating func append(_ segment: LayerSegment) {
        if count > 0 {
            let previous = storage.base[count - 1]
            if previous.layer == segment.layer && previous.last + 1 == segment.first {
                storage.base[count - 1] = LayerSegment(first: previous.first, last: segment.last,
                                                       layer: segment.layer)
                return
            }
        }
        precondition(count < storage.capacity)
        storage.base[count] = segment
        count += 1
    }

    /// The layers that serve at least one page; the base always does.
    var usedLayers: LayerSet {
        var used = LayerSet()
        used.insert(Layers.base)
        for segment in segments { used.insert(segment.layer) }
        return used
    }

    /// Renumbers every segment's layer (after unused layers were dropped,
    /// or to the numbering of the stack a table is laid on).
    mutating func renumberLayers(_ renumbering: LayerRenumbering) {
        for index in 0..<count {
            storage.base[index] = storage.base[index].served(by: renumbering[storage.base[index].layer])
        }
    }

    /// Drops the segments the base serves: pages no segment covers come
    /// from the base anyway, and one stack has one normal form.
    mutating func dropBaseSegments() {
        var kept = 0
        for index in 0..<count where storage.base[index].layer != Layers.base {
            storage.base[kept] = storage.base[index]
            kept += 1
        }
        count = kept
    }

    // MARK: Lookup

    /// The layer that serves file page `page`.
    func layer(forPage page: UInt64) -> LayerIndex {
        let segments = self.segments
        let index = SegmentTable.firstIndex(in: segments, endingAtOrAfter: page)
        return index < segments.count && segments[index].first <= page ? segments[index].layer : Layers.base
    }

    /// The pages around `page` that the segment covering it serves, before
    /// `end`: at most `limit` of them, `page` among them (nil when no
    /// segment covers `page`): what a read of `page` may take in the same
    /// I/O. Like a plain mapping's read-around, which follows the previous
    /// fault (`previous`): after page - 1 (touching forward) from `page` on,
    /// after page + 1 (backward) up to `page`; otherwise as near the
    /// middle as the segment allows, reaching further back where it ends
    /// soon after `page` (so a run touched from its end is read at once).
    func run(around page: UInt64, limit: UInt64, end: UInt64, previous: UInt64?) -> (first: UInt64, count: UInt64)? {
        let segments = self.segments
        let index = SegmentTable.firstIndex(in: segments, endingAtOrAfter: page)
        guard limit > 0, page < end, index < segments.count, segments[index].first <= page else { return nil }
        var last = Swift.min(segments[index].last, end - 1)
        var first: UInt64
        if page > 0, previous == page - 1 {
            first = page
        } else if previous == page + 1 {
            first = page + 1 - Swift.min(page + 1, limit)
            last = page
        } else {
            first = page - Swift.min(page, limit / 2)
            if last + 1 < first + limit { first = last + 1 >= limit ? last + 1 - limit : 0 }
        }
        first = Swift.max(first, segments[index].first)
        return (first, Swift.min(last - first + 1, limit))
    }

    /// The runs of pages `first ..< first + count`, each served by one layer.
    func plan(first: UInt64, count: UInt64) -> FaultPlan {
        FaultPlan(segments: segments, first: first, count: count)
    }

    /// Index of the first segment whose `last` is at or after `page`
    /// (`segments.count` if none): a binary search over sorted, disjoint
    /// segments.
    static func firstIndex(in segments: UnsafeBufferPointer<LayerSegment>, endingAtOrAfter page: UInt64) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            // Shift, not `/ 2`: with -Osize a signed division becomes `idiv`.
            let middle = Int(bitPattern: UInt(bitPattern: low &+ high) >> 1)
            if segments[middle].last < page {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    // MARK: Normalising a request

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
}

/// A new index for each layer index: the layers a table still uses to 0,
/// 1, 2... in their order (so that an overlay drops the layer files that no
/// longer serve any page), or the layers of one stack to their places in
/// another.
struct LayerRenumbering {
    private var newIndex = InlineArray<256, LayerIndex>(repeating: 0)
    /// Number of layers kept (`init(keeping:)`).
    private(set) var count = 0

    /// Every layer to 0, until set otherwise.
    init() {}

    init(keeping used: LayerSet) {
        var next = 0
        for layer in 0..<Layers.maximumCount where used.contains(LayerIndex(layer)) {
            newIndex[layer] = LayerIndex(next)
            next += 1
        }
        count = next
    }

    subscript(old: LayerIndex) -> LayerIndex {
        get { newIndex[Int(old)] }
        set { newIndex[Int(old)] = newValue }
    }
}

extension SegmentTable {
    /// Whether some segment covers a page of `pages`.
    func covers(_ pages: ClosedRange<UInt64>) -> Bool { firstCoveredPage(in: pages) != nil }

    /// The first page of `pages` that a segment covers.
    func firstCoveredPage(in pages: ClosedRange<UInt64>) -> UInt64? {
        let segments = self.segments
        let index = SegmentTable.firstIndex(in: segments, endingAtOrAfter: pages.lowerBound)
        guard index < segments.count, segments[index].first <= pages.upperBound else { return nil }
        return Swift.max(segments[index].first, pages.lowerBound)
    }

    /// The first page of `pages` that a segment covers and that lies
    /// inside its layer, whose page count `layerPages` gives: a page an own
    /// layer can be copied from (a page past its layer's end raises SIGBUS).
    func firstCoveredPage(in pages: ClosedRange<UInt64>, insideLayer layerPages: (LayerIndex) -> UInt64) -> UInt64? {
        let segments = self.segments
        var index = SegmentTable.firstIndex(in: segments, endingAtOrAfter: pages.lowerBound)
        while index < segments.count, segments[index].first <= pages.upperBound {
            let candidate = Swift.max(segments[index].first, pages.lowerBound)
            if candidate < layerPages(segments[index].layer) { return candidate }
            index += 1
        }
        return nil
    }

    /// Whether segments cover every page of `pages`.
    func coversAll(_ pages: ClosedRange<UInt64>) -> Bool {
        var covered = true
        forEachGap(pages.lowerBound, pages.upperBound) { _, _ in covered = false }
        return covered
    }

    /// Calls `body` with each maximal run of pages in `first...last` that no
    /// segment covers.
    func forEachGap(_ first: UInt64, _ last: UInt64, _ body: (UInt64, UInt64) -> Void) {
        for run in plan(first: first, count: last - first + 1) where run.layer == Layers.base {
            body(run.first, run.first + run.count - 1)
        }
    }
}
