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
}
