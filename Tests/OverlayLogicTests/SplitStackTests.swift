// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// The files a split composition shows, page by page: an own layer's where
/// the own table covers the page, else the lower stack's.
private func shown(_ split: borrowing SplitComposition<TestLayer>, pages: Int) -> [UInt64] {
    var lower: [UInt64] = []
    for index in 0..<split.lower.layers.count { lower.append(split.lower.layers.withElement(index) { $0.file }) }
    var own: [UInt64?] = []
    for index in 0..<split.own.layers.count {
        own.append(split.own.layers.withElement(index) { (slot: borrowing StackSlot<TestLayer>) -> UInt64? in
            switch slot {
            case .below: return nil
            case .layer(let layer): return layer.file
            }
        })
    }
    return (0..<pages).map { page in
        let ownLayer = Int(split.own.table.layer(forPage: UInt64(page)))
        if ownLayer != 0, let file = own[ownLayer] { return file }
        return lower[Int(split.lower.table.layer(forPage: UInt64(page)))]
    }
}

private func lowerFiles(_ split: borrowing SplitComposition<TestLayer>) -> [UInt64] {
    (0..<split.lower.layers.count).map { index in split.lower.layers.withElement(index) { $0.file } }
}

private func ownFiles(_ split: borrowing SplitComposition<TestLayer>) -> [UInt64] {
    (0..<split.own.layers.count).compactMap { index in
        split.own.layers.withElement(index) { (slot: borrowing StackSlot<TestLayer>) -> UInt64? in
            switch slot {
            case .below: return nil
            case .layer(let layer): return layer.file
            }
        }
    }
}

@Suite struct SplitStackTests {
    /// The top layer is own by default, the ones beneath shared: the lower
    /// stack is what the shared layers compose, whatever the own layer
    /// covers, so restores with other tops share it.
    @Test func topIsOwnByDefaultAndTheLowerStackIgnoresIt() throws {
        let references = References()
        do {
            var split = try SplitStack(lower: try LayerStack(base: TestLayer(0, references)), pages: 64)
            try split.lay(try makeTable([r(0, 9)]), of: TestLayer(1, references), as: .shared)
            try split.lay(try makeTable([r(5, 6)]), of: TestLayer(2, references), as: .ownByDefault)
            let composed = try split.finish()
            #expect(lowerFiles(composed) == [0, 1])
            #expect(ownFiles(composed) == [2])
            var model = ViewModel(base: 0, pages: 64)
            model.lay([r(0, 9)], of: 1)
            model.lay([r(5, 6)], of: 2)
            #expect(shown(composed, pages: 64) == model.files)
            // The lower stack alone: file 1 at pages 0...9, including 5 and 6.
            #expect(composed.lower.table.layer(forPage: 5) == 1)
        }
        #expect(references.alive == 0)
    }

    /// Own layers are a suffix: a shared layer laid above an own one is own.
    @Test func layersAboveAnOwnLayerAreOwn() throws {
        let references = References()
        do {
            var split = try SplitStack(lower: try LayerStack(base: TestLayer(0, references)), pages: 64)
            try split.lay(try makeTable([r(0, 1)]), of: TestLayer(1, references), as: .own)
            try split.lay(try makeTable([r(1, 2)]), of: TestLayer(2, references), as: .shared)
            let composed = try split.finish()
            #expect(lowerFiles(composed) == [0])
            #expect(ownFiles(composed) == [1, 2])
            #expect(shown(composed, pages: 4) == [1, 2, 2, 0])
        }
        #expect(references.alive == 0)
    }

    /// A top layer that serves more than a quarter of the pages stays shared
    /// (unless asked for as own); a quarter or less is own.
    @Test func denseDefaultTopLayersStayShared() throws {
        let references = References()
        do {
            var dense = try SplitStack(lower: try LayerStack(base: TestLayer(0, references, pages: 100)), pages: 100)
            try dense.lay(try makeTable([r(0, 25)]), of: TestLayer(1, references, pages: 100), as: .ownByDefault)
            let composed = try dense.finish()
            #expect(lowerFiles(composed) == [0, 1] && ownFiles(composed).isEmpty, "26 of 100 pages")
            #expect(shown(composed, pages: 100) == (0..<100).map { $0 <= 25 ? 1 : 0 })

            var quarter = try SplitStack(lower: try LayerStack(base: TestLayer(0, references, pages: 100)), pages: 100)
            try quarter.lay(try makeTable([r(0, 24)]), of: TestLayer(1, references, pages: 100), as: .ownByDefault)
            let sparse = try quarter.finish()
            #expect(lowerFiles(sparse) == [0] && ownFiles(sparse) == [1], "25 of 100 pages")

            var asked = try SplitStack(lower: try LayerStack(base: TestLayer(0, references, pages: 100)), pages: 100)
            try asked.lay(try makeTable([r(0, 99)]), of: TestLayer(1, references, pages: 100), as: .own)
            let explicit = try asked.finish()
            #expect(ownFiles(explicit) == [1], "asked for as own")
        }
        #expect(references.alive == 0)
    }

    /// A shown overlay keeps its own layers own; requests that lay more on
    /// it add to them.
    @Test func aShownOverlayKeepsItsOwnLayers() throws {
        let references = References()
        do {
            let ownTable = try makeTable([r(2, 3)], layer: 1)
            var split = try SplitStack(lower: try LayerStack(base: TestLayer(0, references)),
                                       ownLayers: try buffer([7], references), ownTable: ownTable, pages: 64)
            try split.lay(try makeTable([r(3, 4)]), of: TestLayer(8, references), as: .shared)
            let composed = try split.finish()
            #expect(lowerFiles(composed) == [0])
            #expect(ownFiles(composed) == [7, 8])
            #expect(shown(composed, pages: 6) == [0, 0, 7, 8, 8, 0])
        }
        #expect(references.alive == 0)
    }

    /// Random chains of roles against the page model: what the overlay shows
    /// never depends on how the layers are split.
    @Test func randomSplitsShowTheModel() throws {
        let references = References()
        var random = SplitMix64(seed: 11)
        for _ in 0..<300 {
            let pages = 40
            var model = ViewModel(base: 0, pages: pages)
            var split = try SplitStack(lower: try LayerStack(base: TestLayer(0, references, pages: UInt64(pages))),
                                       pages: UInt64(pages))
            let count = 1 + Int(random.below(6))
            for index in 0..<count {
                let ranges = (0..<(1 + random.below(3))).map { _ in
                    let start = random.below(UInt64(pages))
                    return r(start, Swift.min(start + random.below(6), UInt64(pages - 1)))
                }
                let file = 1 + random.below(5)
                let flags: UInt32 = [0, LayerRoles.ownFlag, LayerRoles.sharedFlag][Int(random.below(3))]
                try split.lay(try makeTable(ranges), of: TestLayer(file, references, pages: UInt64(pages)),
                              as: LayerRoles.role(index: index, of: count, flags: flags))
                model.lay(ranges, of: file)
            }
            let composed = try split.finish()
            #expect(shown(composed, pages: pages) == model.files)
        }
        #expect(references.alive == 0)
    }
}

@Suite struct SegmentTableQueryTests {
    @Test func gapsAndCoverage() throws {
        let table = try makeTable([r(2, 3), r(6, 6)])
        var gaps: [ClosedRange<UInt64>] = []
        table.forEachGap(0, 9) { first, last in gaps.append(first...last) }
        #expect(gaps == [0...1, 4...5, 7...9])
        #expect(table.firstCoveredPage(in: 4...9) == 6)
        #expect(table.firstCoveredPage(in: 7...9) == nil)
        // Pages past their layer's end give no page to copy.
        #expect(table.firstCoveredPage(in: 0...9, insideLayer: { _ in 100 }) == 2)
        #expect(table.firstCoveredPage(in: 0...9, insideLayer: { _ in 2 }) == nil)
        #expect(table.firstCoveredPage(in: 3...9, insideLayer: { _ in 3 }) == nil)
        #expect(table.firstCoveredPage(in: 3...9, insideLayer: { _ in 4 }) == 3)
        #expect(table.firstCoveredPage(in: 4...9, insideLayer: { _ in 7 }) == 6)
        #expect(table.covers(3...4) && !table.covers(4...5))
        #expect(table.coversAll(2...3) && !table.coversAll(2...4))
    }
}
