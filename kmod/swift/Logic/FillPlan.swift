// SPDX-License-Identifier: GPL-2.0-or-later

/// How one readahead batch of an overlay's page cache is filled: pages
/// `first ..< first + count` (at most 64), in spans, one per layer.
///
/// A layer's span runs from the first page of its first run in the batch to
/// the last page of its last run. First each span may be read directly
/// into the overlay's pages with one I/O (`servedMask` says which of its
/// pages the layer serves; the others land in a scratch page); the
/// executor tries that and records which spans it could read. The layers
/// whose spans were not read are prefetched together, so that their reads
/// are in flight at once and each is one large read even when the batch
/// interleaves layers page by page (a strided access that the layers' own
/// readahead would take for random reads, a page at a time); then every run
/// of pages they serve is copied from their page cache (`forEachRunToCopy`).
/// So each page is filled exactly once, by the layer that serves it; the
/// pages of a span that another layer serves are read in vain, at most the
/// batch's size per layer.
///
/// The plan borrows the segment table's storage: use it only while the table
/// is alive (the overlay outlives every fill of its page cache). It is
/// noncopyable so that its 300 bytes are never copied on the kernel stack.
struct FillPlan: ~Copyable {
    struct Span: Equatable {
        var layer: LayerIndex
        var first: UInt64
        var count: UInt64
    }

    /// Layers tracked per batch; a batch rarely mixes more, and the runs of
    /// the rest are simply copied.
    static let capacity = 8

    let first: UInt64
    let count: UInt64
    private let segments: UnsafeBufferPointer<LayerSegment>
    private var spans = InlineArray<8, Span>(repeating: Span(layer: 0, first: 0, count: 0))
    /// Per span, the pages its layer serves, gathered in the same walk.
    private var served = InlineArray<8, UInt64>(repeating: 0)
    /// Number of spans.
    private(set) var spanCount = 0
    /// Runs in the batch.
    private(set) var runs = 0

    init(_ table: borrowing SegmentTable, first: UInt64, count: UInt64) {
        self.first = first
        self.count = count
        segments = table.segments
        for run in FaultPlan(segments: segments, first: first, count: count) {
            runs += 1
            add(run)
        }
    }

    private mutating func add(_ run: LayerRun) {
        for index in 0..<spanCount where spans[index].layer == run.layer {
            // Runs come in page order: the span grows to this run's end.
            spans[index].count = run.first + run.count - spans[index].first
            served[index] |= Self.mask(of: run, from: spans[index].first)
            return
        }
        guard spanCount < Self.capacity else { return }
        spans[spanCount] = Span(layer: run.layer, first: run.first, count: run.count)
        served[spanCount] = Self.mask(of: run, from: run.first)
        spanCount += 1
    }

    /// The bits of `run`'s pages counted from page `first` (those below 64).
    private static func mask(of run: LayerRun, from first: UInt64) -> UInt64 {
        var mask: UInt64 = 0
        for page in run.first..<(run.first + run.count) where page - first < 64 {
            mask |= 1 << (page - first)
        }
        return mask
    }

    /// Span `index`.
    func span(_ index: Int) -> Span { spans[index] }

    /// The span of `layer`, if it has one.
    func spanIndex(of layer: LayerIndex) -> Int? {
        for index in 0..<spanCount where spans[index].layer == layer { return index }
        return nil
    }

    /// The pages of span `index` that its layer serves, as a bit mask: bit
    /// i stands for page `first + i` of the span (spans of at most 64 pages;
    /// the rest of a longer span is left out). A direct read of the span
    /// puts these pages in the overlay's folios and the others in a scratch
    /// page.
    func servedMask(ofSpan index: Int) -> UInt64 { served[index] }

    /// The spans to prefetch once those in `direct` (bit i: span i) were read
    /// directly: all the others.
    func forEachSpanToPrefetch(afterDirect direct: UInt32, _ body: (Span) -> Void) {
        for index in 0..<spanCount where direct & (1 << UInt32(index)) == 0 { body(spans[index]) }
    }

    /// The runs to copy once the spans in `direct` were read directly: every
    /// run of a layer whose span was not.
    func forEachRunToCopy(afterDirect direct: UInt32, _ body: (LayerRun) -> Void) {
        for run in FaultPlan(segments: segments, first: first, count: count) {
            if let span = spanIndex(of: run.layer), direct & (1 << UInt32(span)) != 0 { continue }
            body(run)
        }
    }
}
