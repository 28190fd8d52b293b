// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct FillPlanTests {
    @Test func interleavedLayersGetOneSpanEach() throws {
        // Every other page overlaid, as a fragmented snapshot layer is.
        let table = try makeTable((0..<16).map { r($0 * 2, $0 * 2) })
        let spans = FillPlan(table, first: 0, count: 32)
        let (runs, count, first, second) = (spans.runs, spans.spanCount, spans.span(0), spans.span(1))
        #expect(runs == 32)
        #expect(count == 2)
        #expect(first == .init(layer: 1, first: 0, count: 31))
        #expect(second == .init(layer: 0, first: 1, count: 31))
    }

    @Test func singleRunIsItsOwnSpan() throws {
        let table = try makeTable([r(0, 100)])
        let spans = FillPlan(table, first: 10, count: 32)
        let (runs, count, span) = (spans.runs, spans.spanCount, spans.span(0))
        #expect(runs == 1)
        #expect(count == 1 && span == .init(layer: 1, first: 10, count: 32))
    }

    @Test func moreLayersThanTrackedAreSkipped() throws {
        var table = try makeTable([r(0, 0)], layer: 1)
        for layer in 2...12 {
            table = try SegmentTable(laying: try makeTable([r(UInt64(layer), UInt64(layer))], layer: LayerIndex(layer)),
                                     over: table)
        }
        let spans = FillPlan(table, first: 0, count: 14)
        let count = spans.spanCount
        #expect(count == FillPlan.capacity)
        var layers = Set<LayerIndex>()
        for index in 0..<spans.spanCount { layers.insert(spans.span(index).layer) }
        #expect(layers.count == FillPlan.capacity)
    }

    @Test func servedMasksPartitionTheBatch() throws {
        // Pages 0, 2, 4, ... from layer 1, plus a run 20...23.
        let table = try makeTable((0..<8).map { r($0 * 2, $0 * 2) } + [r(20, 23)])
        let spans = FillPlan(table, first: 0, count: 24)
        let (overlayIndex, baseIndex, missing) = (spans.spanIndex(of: 1), spans.spanIndex(of: 0), spans.spanIndex(of: 7))
        let overlay = try #require(overlayIndex)
        let base = try #require(baseIndex)
        #expect(missing == nil)
        let overlayMask = spans.servedMask(ofSpan: overlay)
        let baseMask = spans.servedMask(ofSpan: base)
        // Layer 1 from page 0: pages 0, 2, ..., 14 and 20...23.
        #expect(overlayMask == 0xF0_5555)
        // The base from page 1: pages 1, 3, ..., 15 (bits 0, 2, ..., 14) and 16...19 (bits 15...18).
        #expect(baseMask == 0x7_D555)
        // Every page of the batch is served by exactly one of them.
        for page in 0..<24 {
            let byOverlay = overlayMask >> UInt32(page) & 1 == 1
            let byBase = page >= 1 && baseMask >> UInt32(page - 1) & 1 == 1
            #expect(byOverlay != byBase, "page \(page)")
        }
    }

    /// Whatever the direct reads achieve, the plan fills every page of the
    /// batch exactly once, with the layer the table names for it: a
    /// directly read span fills the pages its mask names, the copies fill
    /// the rest. Checked against the table's own lookup.
    @Test func everyPageFilledOnceByItsLayerWhateverReadsDirectly() throws {
        var random = SplitMix64(seed: 17)
        for _ in 0..<300 {
            var table = try makeTable([r(0, 0)], layer: 1)
            for layer in 1...(1 + random.below(11)) {
                let first = random.below(70)
                let ranges = (0..<random.below(5)).map { _ in
                    let start = random.below(70)
                    return r(start, start + random.below(6))
                } + [r(first, first)]
                table = try SegmentTable(laying: try makeTable(ranges, layer: LayerIndex(layer)), over: table)
            }
            let first = random.below(10)
            let count = 1 + random.below(64)
            let plan = FillPlan(table, first: first, count: count)
            let direct = UInt32(truncatingIfNeeded: random.below(256))
            var filledBy = [UInt64: LayerIndex]()
            var fills = 0
            for index in 0..<plan.spanCount where direct & (1 << UInt32(index)) != 0 {
                let span = plan.span(index)
                let mask = plan.servedMask(ofSpan: index)
                for bit in 0..<64 where mask >> UInt64(bit) & 1 == 1 {
                    filledBy[span.first + UInt64(bit)] = span.layer
                    fills += 1
                }
            }
            plan.forEachRunToCopy(afterDirect: direct) { run in
                for page in run.first..<(run.first + run.count) {
                    filledBy[page] = run.layer
                    fills += 1
                }
            }
            #expect(fills == Int(count), "each page once")
            for page in first..<(first + count) {
                #expect(filledBy[page] == table.layer(forPage: page), "page \(page)")
            }
        }
    }
}
