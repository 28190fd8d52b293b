// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct SegmentTableTests {
    @Test func seedScenarioLookup() throws {
        let table = try makeTable([r(0, 0), r(4, 6), r(20, 20), r(21, 21), r(30, 70), r(80, 140)])
        let count = table.count
        #expect(count == 5)  // {20} and {21} merge
        for page in UInt64(0)..<1024 {
            let expected: Layer = [0, 4, 5, 6, 20, 21].contains(page) || (30...70).contains(page)
                || (80...140).contains(page) ? .overlay : .base
            let layer = table.layer(forPage: page)
            #expect(layer == expected, "page \(page)")
        }
    }

    @Test func mergesOverlappingUnsortedAndAdjacent() throws {
        let table = try makeTable([r(50, 60), r(10, 20), r(15, 30), r(31, 31), r(55, 58), r(100, 100)])
        let merged = Array(table.ranges)
        #expect(merged == [r(10, 31), r(50, 60), r(100, 100)])
    }

    @Test func rejectsEmptyRequest() {
        #expect(throws: OverlayError.noSegments) { try SegmentTable.checkRequested(count: 0) }
        #expect(throws: OverlayError.tooManySegments) {
            try SegmentTable.checkRequested(count: SegmentLimits.maxSegments + 1)
        }
        #expect(throws: Never.self) { try SegmentTable.checkRequested(count: SegmentLimits.maxSegments) }
    }

    @Test func reportsFirstBackwardsSegment() {
        #expect(throws: OverlayError.segmentEndsBeforeStart(index: 2)) {
            _ = try makeTable([r(0, 1), r(5, 5), r(9, 2), r(7, 3)])
        }
    }

    @Test func extremeOffsetsDoNotOverflow() throws {
        let table = try makeTable([r(.max - 1, .max), r(0, 0), r(.max, .max)])
        let ranges = Array(table.ranges)
        #expect(ranges == [r(0, 0), r(.max - 1, .max)])
        #expect(table.layer(forPage: .max) == .overlay)
        #expect(table.layer(forPage: .max - 2) == .base)
        // The plan's end saturates at .max (exclusive), far above any real
        // page offset (file offsets end at 2^63).
        let runs = Array(table.plan(first: .max - 3, count: 10))
        #expect(runs == [LayerRun(layer: .base, first: .max - 3, count: 2),
                         LayerRun(layer: .overlay, first: .max - 1, count: 1)])
    }

    @Test func wholeRangeSegment() throws {
        let table = try makeTable([r(0, .max)])
        #expect(Array(table.plan(first: 5, count: 100)) == [LayerRun(layer: .overlay, first: 5, count: 100)])
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

    /// Property test: lookups and run plans agree with the page-by-page model
    /// for random requests (sorted, unsorted, overlapping, adjacent).
    @Test(arguments: 0..<200)
    func matchesNaiveModel(seed: Int) throws {
        var generator = SplitMix64(seed: UInt64(seed))
        let pages: UInt64 = seed % 3 == 0 ? 64 : 400
        let requested = (0..<Int.random(in: 1...40, using: &generator)).map { _ -> PageRange in
            let first = UInt64.random(in: 0..<pages, using: &generator)
            let length = UInt64.random(in: 0..<(seed % 2 == 0 ? 4 : 40), using: &generator)
            return r(first, min(first + length, pages - 1))
        }
        let table = try makeTable(requested)

        // Normalised: sorted, disjoint, not adjacent.
        let ranges = Array(table.ranges)
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.last + 1 < b.first) }

        for page in 0..<pages + 5 {
            let layer = table.layer(forPage: page)
            #expect(layer == modelLayer(requested, page), "page \(page)")
        }

        // Any window splits into runs that cover it exactly, alternate layers
        // and agree with the model page by page.
        for _ in 0..<20 {
            let first = UInt64.random(in: 0..<pages, using: &generator)
            let count = UInt64.random(in: 0...64, using: &generator)
            let runs = Array(table.plan(first: first, count: count))
            var cursor = first
            var previous: Layer? = nil
            for run in runs {
                #expect(run.first == cursor && run.count > 0)
                #expect(run.layer != previous)
                for page in run.first..<run.first + run.count {
                    #expect(modelLayer(requested, page) == run.layer)
                }
                previous = run.layer
                cursor += run.count
            }
            #expect(cursor == first + count)
            let overlaid = (first..<first + count).filter { modelLayer(requested, $0) == .overlay }.count
            #expect(table.overlayPages(first: first, count: count) == UInt64(overlaid))
        }
    }
}
