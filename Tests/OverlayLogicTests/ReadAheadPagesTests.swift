// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// A page that records its release, as the kernel's drops its reference.
private final class ReleaseLog { var released: [UInt64] = [] }

private struct ModelPage: ~Copyable {
    let index: UInt64
    let log: ReleaseLog
    private var handedOver = false

    init(index: UInt64, log: ReleaseLog) {
        self.index = index
        self.log = log
    }

    deinit { if !handedOver { log.released.append(index) } }

    /// Hands the page over (as a fault takes it as its source): no release.
    consuming func handOver() -> UInt64 {
        handedOver = true
        return index
    }
}

private extension ReadAheadPages where Page == ModelPage, Stamp == Int {
    /// `take`, the page handed over: its index, or nil.
    mutating func taken(layer: LayerIndex, index: UInt64, stamp: Int) -> UInt64? {
        guard let page = take(layer: layer, index: index, stamp: stamp) else { return nil }
        return page.handOver()
    }
}

@Suite struct ReadAheadPagesTests {
    @Test func takesWhatWasInsertedOnceUnderTheSameStamp() throws {
        let log = ReleaseLog()
        var pages = try ReadAheadPages<ModelPage, Int>(capacity: 4)
        pages.insert(layer: 1, index: 10, stamp: 7, page: ModelPage(index: 10, log: log))
        pages.insert(layer: 2, index: 10, stamp: 7, page: ModelPage(index: 110, log: log))
        let count = pages.count
        #expect(count == 2)
        let holdsBoth = pages.holds(layer: 1, index: 10) && pages.holds(layer: 2, index: 10)
        let holdsOther = pages.holds(layer: 1, index: 11)
        #expect(holdsBoth && !holdsOther)
        let taken1 = pages.taken(layer: 1, index: 10, stamp: 7)
        #expect(taken1 == 10)
        let taken2 = pages.taken(layer: 1, index: 10, stamp: 7)
        #expect(taken2 == nil, "a page is taken once")
        let taken3 = pages.taken(layer: 3, index: 10, stamp: 7)
        #expect(taken3 == nil, "another layer's page is another page")
        let remaining = pages.count
        #expect(remaining == 1)
        #expect(log.released.isEmpty)
    }

    @Test func anotherStampDropsTheEntry() throws {
        let log = ReleaseLog()
        var pages = try ReadAheadPages<ModelPage, Int>(capacity: 4)
        pages.insert(layer: 1, index: 5, stamp: 1, page: ModelPage(index: 5, log: log))
        // The file changed since the read: the old bytes must not be copied.
        let taken4 = pages.taken(layer: 1, index: 5, stamp: 2)
        #expect(taken4 == nil)
        #expect(log.released == [5])
        let left = pages.count
        #expect(left == 0)
    }

    @Test func theOldestMakesRoomAndTheSamePageIsReplaced() throws {
        let log = ReleaseLog()
        var pages = try ReadAheadPages<ModelPage, Int>(capacity: 3)
        for index in UInt64(0)..<3 { pages.insert(layer: 1, index: index, stamp: 0, page: ModelPage(index: index, log: log)) }
        pages.insert(layer: 1, index: 3, stamp: 0, page: ModelPage(index: 3, log: log))
        #expect(log.released == [0], "the oldest made room")
        let heldOldest = pages.holds(layer: 1, index: 0), heldNewest = pages.holds(layer: 1, index: 3)
        #expect(!heldOldest && heldNewest)
        // The same page again replaces its entry (the old copy released).
        pages.insert(layer: 1, index: 2, stamp: 1, page: ModelPage(index: 2, log: log))
        #expect(log.released == [0, 2])
        let held = pages.count
        #expect(held == 3)
        let taken5 = pages.taken(layer: 1, index: 2, stamp: 1)
        #expect(taken5 == 2)
    }

    @Test func releasesWhatIsLeftWhenDropped() throws {
        let log = ReleaseLog()
        do {
            var pages = try ReadAheadPages<ModelPage, Int>(capacity: 8)
            for index in UInt64(0)..<5 { pages.insert(layer: 1, index: index, stamp: 0, page: ModelPage(index: index, log: log)) }
            let taken6 = pages.taken(layer: 1, index: 1, stamp: 0)
        #expect(taken6 == 1)
        }
        #expect(log.released.sorted() == [0, 2, 3, 4])
    }

    @Test func holdsNoMoreThanItsCapacityUnderRandomUse() throws {
        let log = ReleaseLog()
        var pages = try ReadAheadPages<ModelPage, Int>(capacity: 5)
        var random = SplitMix64(seed: 42)
        var inserted = 0, handedOver = 0
        for _ in 0..<2000 {
            let index = random.below(12), stamp = Int(random.below(2))
            if random.below(2) == 0 {
                pages.insert(layer: 1, index: index, stamp: stamp, page: ModelPage(index: index, log: log))
                inserted += 1
            } else if let taken = pages.taken(layer: 1, index: index, stamp: stamp) {
                #expect(taken == index)
                handedOver += 1
            }
            let count = pages.count
            #expect(count <= 5)
        }
        let held = pages.count
        _ = consume pages
        // Every page inserted was handed over or released, exactly once.
        #expect(inserted == handedOver + log.released.count)
        #expect(held <= 5)
    }
}

@Suite struct SegmentTableRunTests {
    /// The run a fault reads touching forward (the previous fault on the
    /// page before): its pages from `page` on, at most `limit`; 0 when no
    /// segment covers `page`.
    private func forwardRun(_ table: borrowing SegmentTable, from page: UInt64, limit: UInt64) -> UInt64 {
        guard let run = table.run(around: page, limit: limit, end: .max, previous: page &- 1) else { return 0 }
        #expect(run.first == page)
        return run.count
    }

    @Test func runsEndAtTheirSegmentOrTheLimit() throws {
        let table = try makeTable([r(10, 19), r(20, 24), r(40, 40)])  // 10...24 merge
        #expect(forwardRun(table, from: 10, limit: 100) == 15)
        #expect(forwardRun(table, from: 22, limit: 100) == 3)
        #expect(forwardRun(table, from: 12, limit: 4) == 4)
        #expect(forwardRun(table, from: 40, limit: 16) == 1)
        #expect(forwardRun(table, from: 9, limit: 16) == 0)
        #expect(forwardRun(table, from: 25, limit: 16) == 0)
        #expect(forwardRun(table, from: 41, limit: 16) == 0)
    }

    @Test func runsAroundAPageReachBothWays() throws {
        let table = try makeTable([r(10, 19), r(20, 24), r(40, 40), r(100, 163)])  // 10...24 merge
        // The whole run, from any of its pages.
        for page in UInt64(10)...24 { #expect(table.run(around: page, limit: 16, end: 1000, previous: nil)! == (10, 15)) }
        #expect(table.run(around: 40, limit: 16, end: 1000, previous: nil)! == (40, 1))
        // A long run: centred, or reaching back from its end.
        #expect(table.run(around: 130, limit: 16, end: 1000, previous: nil)! == (122, 16))
        #expect(table.run(around: 163, limit: 16, end: 1000, previous: nil)! == (148, 16))
        #expect(table.run(around: 101, limit: 16, end: 1000, previous: nil)! == (100, 16))
        // Not past the layer's end; one page under MADV_RANDOM.
        #expect(table.run(around: 20, limit: 16, end: 22, previous: nil)! == (10, 12))
        #expect(table.run(around: 15, limit: 1, end: 1000, previous: nil)! == (15, 1))
        // No segment, or at or past the end.
        #expect(table.run(around: 9, limit: 16, end: 1000, previous: nil) == nil)
        #expect(table.run(around: 25, limit: 16, end: 1000, previous: nil) == nil)
        #expect(table.run(around: 22, limit: 16, end: 22, previous: nil) == nil)
        #expect(table.run(around: 15, limit: 0, end: 1000, previous: nil) == nil)
        // Following the previous fault: forward from the page, backward up to it.
        #expect(table.run(around: 130, limit: 16, end: 1000, previous: 129)! == (130, 16))
        #expect(table.run(around: 160, limit: 16, end: 1000, previous: 159)! == (160, 4))
        #expect(table.run(around: 130, limit: 16, end: 1000, previous: 131)! == (115, 16))
        #expect(table.run(around: 105, limit: 16, end: 1000, previous: 106)! == (100, 6))
        #expect(table.run(around: 0, limit: 16, end: 1000, previous: 1) == nil)
    }

    /// Whatever the table, limit, page and previous fault: the run holds
    /// `page`, lies inside the segment covering it and before `end`, and is
    /// at most `limit` long; as long as the limit allows within the
    /// segment, or its part from `page` on (touching forward) or up to
    /// `page` (backward).
    @Test func runsAroundHoldTheirPage() throws {
        var random = SplitMix64(seed: 11)
        for _ in 0..<200 {
            let ranges = (0..<20).map { _ -> PageRange in
                let first = random.below(300)
                return r(first, first + random.below(40))
            }
            let table = try makeTable(ranges)
            for _ in 0..<50 {
                let page = random.below(360), limit = random.below(20), end = random.below(400)
                let direction = random.below(3)
                let previous: UInt64? = direction == 0 ? nil : direction == 1 ? page &- 1 : page + 1
                let covered = table.layer(forPage: page) != Layers.base
                guard let run = table.run(around: page, limit: limit, end: end, previous: previous) else {
                    #expect(!covered || limit == 0 || page >= end)
                    continue
                }
                #expect(covered && limit > 0 && page < end)
                #expect(run.first <= page && page < run.first + run.count && run.count <= limit)
                #expect(run.first + run.count <= end)
                for p in run.first..<(run.first + run.count) { #expect(table.layer(forPage: p) != Layers.base) }
                // Not shorter than it could be: the segment's pages before
                // `end`, up to the limit.
                var before = page, after = page
                while before > 0, table.layer(forPage: before - 1) != Layers.base { before -= 1 }
                while after + 1 < end, table.layer(forPage: after + 1) != Layers.base { after += 1 }
                let available = after - before + 1
                switch direction {
                case 0: #expect(run.count == Swift.min(available, limit))
                case 1 where page > 0: #expect(run.first == page && run.count == Swift.min(after - page + 1, limit))
                case 2: #expect(run.first + run.count == page + 1 && run.count == Swift.min(page - before + 1, limit))
                default: break
                }
            }
        }
    }

    @Test func runsFollowTheTopLayerInStackedTables() throws {
        var random = SplitMix64(seed: 7)
        let ranges = (0..<30).map { _ -> PageRange in
            let first = random.below(200)
            return r(first, first + random.below(6))
        }
        let table = try makeTable(ranges)
        for page in UInt64(0)..<220 {
            let layer = table.layer(forPage: page)
            var expected: UInt64 = 0
            while layer != Layers.base, expected < 16, table.layer(forPage: page + expected) == layer { expected += 1 }
            #expect(forwardRun(table, from: page, limit: 16) == expected, "page \(page)")
        }
    }
}
