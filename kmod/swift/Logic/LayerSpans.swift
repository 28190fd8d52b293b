// SPDX-License-Identifier: GPL-2.0-or-later

/// For one readahead batch, the span of pages each layer serves in it: from
/// the first page of its first run to the last page of its last run.
///
/// When a batch interleaves layers (fragmented segments), each layer's runs
/// are short and strided; read one by one they look random to the layer's
/// own readahead, which then reads a page at a time and waits for each.
/// Prefetching each layer's span first turns that into one large read per
/// layer, all in flight together; the pages of a span that another layer
/// serves are read in vain, at most the batch's size per layer.
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
            return
        }
        guard count < LayerSpans.capacity else { return }
        spans[count] = Span(layer: run.layer, first: run.first, count: run.count)
        count += 1
    }

    /// Whether prefetching helps: only when the batch has several runs (a
    /// single run is one read already, which the layer's readahead serves).
    var worthPrefetching: Bool { runs > 1 }

    subscript(index: Int) -> Span { spans[index] }
}
