// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct SegmentTableTests {
    @Test func seedScenarioLookup() throws {
        let request = [r(0, 0), r(4, 6), r(20, 20), r(21, 21), r(30, 70), r(80, 140)]
        let table = try makeTable(request)
        let count = table.count
        #expect(count == 5)  // {20} and {21} merge
        for page in UInt64(0)..<1024 {
            let layer = table.layer(forPage: page)
            #expect(layer == modelLayer([request], page), "page \(page)")
        }
    }

    @Test func mergesOverlappingUnsortedAndAdjacent() throws {
        let table = try makeTable([r(50, 60), r(10, 20), r(15, 30), r(31, 31), r(55, 58), r(100, 100)], layer: 3)
        #expect(Array(table.segments) == [s(10, 31, 3), s(50, 60, 3), s(100, 100, 3)])
        #expect(table.footprint == 6 * 16)
    }

    @Test func rejectsBadCounts() {
        #expect(throws: OverlayError.noSegments) { try SegmentTable.checkRequested(count: 0) }
        #expect(throws: OverlayError.tooManySegments) {
            try SegmentTable.checkRequested(count: SegmentLimits.maxSegments + 1)
        }
        #expect(throws: Never.self) { try SegmentTable.checkRequested(count: SegmentLimits.maxSegments) }
        #expect(throws: OverlayError.noSegments) { _ = try makeTable([]) }
    }

    @Test func reportsFirstBackwardsSegment() {
        #expect(throws: OverlayError.segmentEndsBeforeStart(index: 2)) {
            _ = try makeTable([r(0, 1), r(5, 5), r(9, 2), r(7, 3)])
        }
    }

    @Test func pagesThatCannotExistAreDropped() throws {
        let max = LayerSegment.maxPage
        let table = try makeTable([r(.max - 1, .max), r(0, 0), r(max - 3, .max), r(max + 1, max + 9)])
        #expect(Array(table.segments) == [s(0, 0, 1), s(max - 3, max, 1)])
        #expect(table.layer(forPage: max) == 1)
        #expect(table.layer(forPage: max - 4) == Layers.base)
        let everything = try makeTable([r(.max, .max)])
        let count = everything.count
        #expect(count == 0)
        #expect(Array(everything.plan(first: 0, count: 3)) == [LayerRun(layer: 0, first: 0, count: 3)])
    }

    @Test func planSaturatesAtTheEnd() throws {
        let table = try makeTable([r(0, LayerSegment.maxPage)])
        #expect(Array(table.plan(first: 5, count: 100)) == [LayerRun(layer: 1, first: 5, count: 100)])
        let runs = Array(table.plan(first: .max - 3, count: 10))
        #expect(runs == [LayerRun(layer: 0, first: .max - 3, count: 3)])
    }

    @Test func layerSegmentPacksIntoSixteenBytes() {
        #expect(MemoryLayout<LayerSegment>.stride == 16)
        #expect(MemoryLayout<PageRange>.stride == 16)
        let segment = s(LayerSegment.maxPage - 1, LayerSegment.maxPage, 255)
        #expect(segment.first == LayerSegment.maxPage - 1 && segment.layer == 255)
    }

    @Test func failedAllocationIsOutOfMemory() {
        HostMemory.$failureThreshold.withValue(1 << 20) {
            #expect(throws: OverlayError.outOfMemory) {
                _ = try PlatformBuffer<PageRange>(capacity: 1 << 20, chargedToCaller: true)
            }
        }
    }

    @Test func heapSortSortsAnyOrder() {
        var generator = SplitMix64(seed: 7)
        for size in [0, 1, 2, 3, 17, 1000] {
            var values = (0..<size).map { _ in r(UInt64.random(in: 0..<500, using: &generator), 0) }
            values.withUnsafeMutableBufferPointer { SegmentTable.heapSortByFirst($0) }
            #expect(values.map(\.first) == values.map(\.first).sorted())
        }
    }

    @Test func layingSplitsAndJoins() throws {
        let lower = try makeTable([r(0, 9), r(20, 29)], layer: 1)
        let upper = try makeTable([r(3, 5), r(9, 20), r(40, 41)], layer: 2)
        let laid = try SegmentTable(laying: upper, over: lower)
        #expect(Array(laid.segments) == [s(0, 2, 1), s(3, 5, 2), s(6, 8, 1), s(9, 20, 2), s(21, 29, 1), s(40, 41, 2)])
        let joined = try makeTable([r(10, 19)], layer: 1)
        let stacked = try SegmentTable(laying: joined, over: laid)
        #expect(Array(stacked.segments) == [s(0, 2, 1), s(3, 5, 2), s(6, 8, 1), s(9, 9, 2), s(10, 19, 1),
                                            s(20, 20, 2), s(21, 29, 1), s(40, 41, 2)])
    }

    @Test func renumberingDropsUnusedLayers() throws {
        let lower = try makeTable([r(0, 9)], layer: 1)
        let middle = try SegmentTable(laying: try makeTable([r(20, 29)], layer: 2), over: lower)
        var top = try SegmentTable(laying: try makeTable([r(0, 9)], layer: 3), over: middle)
        let used = top.usedLayers
        #expect(used.contains(0) && !used.contains(1) && used.contains(2) && used.contains(3) && used.count == 3)
        let renumbering = LayerRenumbering(keeping: used)
        #expect(renumbering.count == 3 && renumbering[2] == 1 && renumbering[3] == 2)
        top.renumberLayers(renumbering)
        #expect(Array(top.segments) == [s(0, 9, 2), s(20, 29, 1)])
    }

    @Test func selectingCutsTheSourceToThePages() throws {
        let source = try SegmentTable(laying: try makeTable([r(5, 9), r(30, 30)], layer: 2),
                                      over: try makeTable([r(0, 20)], layer: 1))
        // source: 0-4 layer 1, 5-9 layer 2, 10-20 layer 1, 30 layer 2, base elsewhere.
        let pages = try makeTable([r(3, 6), r(18, 31), r(40, 41)])
        var selected = try SegmentTable(selecting: pages, from: source)
        #expect(Array(selected.segments) == [s(3, 4, 1), s(5, 6, 2), s(18, 20, 1), s(21, 29, 0), s(30, 30, 2),
                                             s(31, 31, 0), s(40, 41, 0)])
        selected.dropBaseSegments()
        #expect(Array(selected.segments) == [s(3, 4, 1), s(5, 6, 2), s(18, 20, 1), s(30, 30, 2)])
        let everything = try makeTable([r(0, LayerSegment.maxPage)])
        let whole = try SegmentTable(selecting: everything, from: source)
        #expect(Array(whole.segments) == [s(0, 4, 1), s(5, 9, 2), s(10, 20, 1), s(21, 29, 0), s(30, 30, 2),
                                          s(31, LayerSegment.maxPage, 0)])
        let nothing = try SegmentTable()
        let none = try SegmentTable(selecting: pages, from: nothing)
        #expect(Array(none.segments) == [s(3, 6, 0), s(18, 31, 0), s(40, 41, 0)])
    }

    /// Property test: a random stack cut to random pages serves each page
    /// of those pages from the stack's layer for it, and no other page.
    @Test(arguments: 0..<100)
    func selectingMatchesModel(seed: Int) throws {
        var generator = SplitMix64(seed: UInt64(1000 + seed))
        let pages: UInt64 = 300
        func randomRequest() -> [PageRange] {
            (0..<Int.random(in: 1...20, using: &generator)).map { _ in
                let first = UInt64.random(in: 0..<pages, using: &generator)
                return r(first, min(first + UInt64.random(in: 0..<25, using: &generator), pages - 1))
            }
        }
        var requests: [[PageRange]] = []
        var source = try SegmentTable()
        for _ in 0..<Int.random(in: 0...4, using: &generator) {
            requests.append(randomRequest())
            source = try SegmentTable(laying: try makeTable(requests.last!, layer: LayerIndex(requests.count)),
                                      over: source)
        }
        let wanted = randomRequest()
        let selected = try SegmentTable(selecting: try makeTable(wanted), from: source)
        let segments = Array(selected.segments)
        for (a, b) in zip(segments, segments.dropFirst()) { #expect(a.last < b.first) }
        for page in 0..<pages + 3 {
            let covering = segments.first { $0.first <= page && page <= $0.last }
            if wanted.contains(where: { $0.contains(page) }) {
                #expect(covering?.layer == modelLayer(requests, page), "page \(page)")
            } else {
                #expect(covering == nil, "page \(page)")
            }
        }
    }

    /// Property test: random stacks of random requests (sorted, unsorted,
    /// overlapping, adjacent) agree with the page-by-page model in lookups
    /// and in run plans, before and after dropping unused layers.
    @Test(arguments: 0..<150)
    func matchesNaiveModel(seed: Int) throws {
        var generator = SplitMix64(seed: UInt64(seed))
        let pages: UInt64 = seed % 3 == 0 ? 64 : 400
        var requests: [[PageRange]] = []
        var table: SegmentTable? = nil
        for _ in 0..<Int.random(in: 1...5, using: &generator) {
            let request = (0..<Int.random(in: 1...30, using: &generator)).map { _ -> PageRange in
                let first = UInt64.random(in: 0..<pages, using: &generator)
                let length = UInt64.random(in: 0..<(seed % 2 == 0 ? 4 : 40), using: &generator)
                return r(first, min(first + length, pages - 1))
            }
            requests.append(request)
            let layer = LayerIndex(requests.count)
            let top = try makeTable(request, layer: layer)
            if let lower = table.take() {
                table = try SegmentTable(laying: top, over: lower)
            } else {
                table = consume top
            }
        }
        var stacked = table.take()!
        try checkAgainstModel(stacked, requests, pages, &generator, renumbering: nil)
        let renumbering = LayerRenumbering(keeping: stacked.usedLayers)
        stacked.renumberLayers(renumbering)
        try checkAgainstModel(stacked, requests, pages, &generator, renumbering: renumbering)
    }

    private func checkAgainstModel(_ table: borrowing SegmentTable, _ requests: [[PageRange]], _ pages: UInt64,
                                   _ generator: inout SplitMix64, renumbering: LayerRenumbering?) throws {
        func expected(_ page: UInt64) -> LayerIndex {
            let layer = modelLayer(requests, page)
            return renumbering.map { $0[layer] } ?? layer
        }
        // Normalised: sorted, disjoint, and touching segments differ in layer.
        let segments = Array(table.segments)
        for (a, b) in zip(segments, segments.dropFirst()) {
            #expect(a.last < b.first)
            #expect(a.last + 1 < b.first || a.layer != b.layer)
        }
        for page in 0..<pages + 5 {
            let layer = table.layer(forPage: page)
            #expect(layer == expected(page), "page \(page)")
        }
        // Any window splits into runs that cover it exactly, change layer
        // at every boundary and agree with the model page by page.
        for _ in 0..<20 {
            let first = UInt64.random(in: 0..<pages, using: &generator)
            let count = UInt64.random(in: 0...64, using: &generator)
            var cursor = first
            var previous: LayerIndex? = nil
            for run in table.plan(first: first, count: count) {
                #expect(run.first == cursor && run.count > 0)
                #expect(run.layer != previous)
                for page in run.first..<run.first + run.count { #expect(expected(page) == run.layer) }
                previous = run.layer
                cursor += run.count
            }
            #expect(cursor == first + count)
        }
    }
}
