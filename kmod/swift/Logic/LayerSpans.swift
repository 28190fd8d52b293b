// SPDX-License-Identifier: GPL-2.0-or-later

/// For one readahead batch, the span of pages each layer serves in it: from
/// the first page of its first run to the last page of its last run.
///
/// The batch starts the readahead of every layer's span before it copies
/// any page, so the layers' reads are in flight together, and each is one
/// large read even when the batch interleaves layers page by page (a strided
/// access that the layers' own readahead would take for random reads, a
/// page at a time). The pages of a span that another layer serves are read
/// in vain: at most the batch's size per layer.
struct LayerSpans {
    struct Span: Equatable {
        var layer: LayerIndex
        var first: UInt64
        var count: UInt64
    }

    /// Layers tracked per batch; a batch rarely mixes more, and the rest
    /// are simply not prefetched.
    static let capacity = 8

    private var spans = InlineArray<8, Span>(repeating: Span(layer: 0, first: 0, count: 0))
    /// Per span, the pages its layer serves (see `servedMask(ofSpan:)`),
    /// gathered in the same walk of the plan.
    private var served = InlineArray<8, UInt64>(repeating: 0)
    private(set) var count = 0
    /// Runs in the batch.
    private(set) var runs = 0

    init(_ plan: FaultPlan) {
        for run in plan {
            runs += 1
            add(run)
        }
    }

    private mutating func add(_ run: LayerRun) {
        for index in 0..<count where spans[index].layer == run.layer {
            // Runs come in page order: the span grows to this run's end.
            spans[index].count = run.first + run.count - spans[index].first
            served[index] |= Self.mask(of: run, from: spans[index].first)
            return
        }
        guard count < LayerSpans.capacity else { return }
        spans[count] = Span(layer: run.layer, first: run.first, count: run.count)
        served[count] = Self.mask(of: run, from: run.first)
        count += 1
    }

    /// The bits of `run`'s pages counted from page `first` (those below 64).
    private static func mask(of run: LayerRun, from first: UInt64) -> UInt64 {
        var mask: UInt64 = 0
        for page in run.first..<(run.first + run.count) where page - first < 64 {
            mask |= 1 << (page - first)
        }
        return mask
    }

    subscript(index: Int) -> Span { spans[index] }

    /// The span of `layer`, if it has one.
    func index(of layer: LayerIndex) -> Int? {
        for index in 0..<count where spans[index].layer == layer { return index }
        return nil
    }

    /// The pages of span `index` that its layer serves, as a bit mask: bit
    /// i stands for page `first + i` (spans of at most 64 pages; the rest of
    /// a longer span is left out). A direct read of the span puts these
    /// pages in the overlay's folios and the others in a scratch page.
    func servedMask(ofSpan index: Int) -> UInt64 {
        served[index]
    }
}
