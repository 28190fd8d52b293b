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
    @Test func runsEndAtTheirSegmentOrTheLimit() throws {
        let table = try makeTable([r(10, 19), r(20, 24), r(40, 40)])  // 10...24 merge
        #expect(table.run(from: 10, limit: 100) == 15)
        #expect(table.run(from: 22, limit: 100) == 3)
        #expect(table.run(from: 12, limit: 4) == 4)
        #expect(table.run(from: 40, limit: 16) == 1)
        #expect(table.run(from: 9, limit: 16) == 0)
        #expect(table.run(from: 25, limit: 16) == 0)
        #expect(table.run(from: 41, limit: 16) == 0)
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
            #expect(table.run(from: page, limit: 16) == expected, "page \(page)")
        }
    }
}
