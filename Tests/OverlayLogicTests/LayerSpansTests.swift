// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct LayerSpansTests {
    @Test func interleavedLayersGetOneSpanEach() throws {
        // Every other page overlaid, as a fragmented snapshot layer is.
        let table = try makeTable((0..<16).map { r($0 * 2, $0 * 2) })
        let spans = LayerSpans(table.plan(first: 0, count: 32))
        #expect(spans.runs == 32)
        #expect(spans.count == 2)
        #expect(spans[0] == .init(layer: 1, first: 0, count: 31))
        #expect(spans[1] == .init(layer: 0, first: 1, count: 31))
    }

    @Test func singleRunIsItsOwnSpan() throws {
        let table = try makeTable([r(0, 100)])
        let spans = LayerSpans(table.plan(first: 10, count: 32))
        #expect(spans.runs == 1)
        #expect(spans.count == 1 && spans[0] == .init(layer: 1, first: 10, count: 32))
    }

    @Test func moreLayersThanTrackedAreSkipped() throws {
        var table = try makeTable([r(0, 0)], layer: 1)
        for layer in 2...12 {
            table = try SegmentTable(laying: try makeTable([r(UInt64(layer), UInt64(layer))], layer: LayerIndex(layer)),
                                     over: table)
        }
        let spans = LayerSpans(table.plan(first: 0, count: 14))
        #expect(spans.count == LayerSpans.capacity)
        var layers = Set<LayerIndex>()
        for index in 0..<spans.count { layers.insert(spans[index].layer) }
        #expect(layers.count == LayerSpans.capacity)
    }

    @Test func servedMasksPartitionTheBatch() throws {
        // Pages 0, 2, 4, ... from layer 1, plus a run 20...23.
        let table = try makeTable((0..<8).map { r($0 * 2, $0 * 2) } + [r(20, 23)])
        let spans = LayerSpans(table.plan(first: 0, count: 24))
        let overlay = try #require(spans.index(of: 1))
        let base = try #require(spans.index(of: 0))
        #expect(spans.index(of: 7) == nil)
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
}
