// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// A stand-in for the kernel's layer files: a file number, and a count of
/// the references alive, so that the tests see every reference dropped.
final class References { var alive = 0 }

struct TestLayer: StackLayer, ~Copyable {
    let file: UInt64
    let pages: UInt64
    let references: References
    init(_ file: UInt64, _ references: References, pages: UInt64 = 64) {
        self.file = file
        self.pages = pages
        self.references = references
        references.alive += 1
    }
    deinit { references.alive -= 1 }
    var stackIdentity: UInt64 { file }
    var stackPages: UInt64 { pages }
}

/// What a stack shows, page by page: the file that serves each page.
struct ViewModel {
    var files: [UInt64]
    init(base: UInt64, pages: Int) { files = Array(repeating: base, count: pages) }
    mutating func lay(_ ranges: [PageRange], of file: UInt64) {
        for range in ranges { for page in range.first...range.last where page < UInt64(files.count) { files[Int(page)] = file } }
    }
    mutating func lay(_ ranges: [PageRange], ofView nested: ViewModel) {
        for range in ranges {
            for page in range.first...range.last where page < UInt64(files.count) { files[Int(page)] = nested.files[Int(page)] }
        }
    }
}

func buffer(_ files: [UInt64], _ references: References) throws -> LayerBuffer<TestLayer> {
    var layers = try LayerBuffer<TestLayer>(capacity: files.count)
    for file in files { layers.append(TestLayer(file, references)) }
    return layers
}

private func check(_ stack: borrowing ComposedStack<TestLayer>, against model: ViewModel,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    var files: [UInt64] = []
    for index in 0..<stack.layers.count { files.append(stack.layers.withElement(index) { $0.file }) }
    #expect(Set(files).count == files.count, "each file once", sourceLocation: sourceLocation)
    for page in 0..<model.files.count {
        let layer = Int(stack.table.layer(forPage: UInt64(page)))
        #expect(files[layer] == model.files[page], "page \(page)", sourceLocation: sourceLocation)
    }
    // Every layer but the base serves a page: unused layers are dropped.
    var used = Set<LayerIndex>([Layers.base])
    for segment in stack.table.segments { used.insert(segment.layer) }
    #expect(used.count == files.count, "no unused layer", sourceLocation: sourceLocation)
    #expect(!stack.table.segments.contains { $0.layer == Layers.base }, "no base segments",
            sourceLocation: sourceLocation)
}

@Suite struct LayerStackTests {
    @Test func layersAreFlattenedDedupedAndCompacted() throws {
        let references = References()
        do {
            var model = ViewModel(base: 100, pages: 64)
            var stack = try LayerStack(base: TestLayer(100, references))
            try stack.lay(try makeTable([r(0, 9)]), of: TestLayer(1, references))
            model.lay([r(0, 9)], of: 1)
            try stack.lay(try makeTable([r(5, 20)]), of: TestLayer(2, references))
            model.lay([r(5, 20)], of: 2)
            // File 1 again (another descriptor of it): the same layer.
            try stack.lay(try makeTable([r(30, 31)]), of: TestLayer(1, references))
            model.lay([r(30, 31)], of: 1)
            // File 3 covered entirely later: dropped.
            try stack.lay(try makeTable([r(40, 41)]), of: TestLayer(3, references))
            try stack.lay(try makeTable([r(40, 45)]), of: TestLayer(100, references))
            model.lay([r(40, 45)], of: 100)
            let composed = try stack.finish()
            #expect(composed.layers.count == 3)
            check(composed, against: model)
        }
        #expect(references.alive == 0, "every reference dropped")
    }

    @Test func nestedStacksAreCutToTheirPages() throws {
        let references = References()
        do {
            // An overlay of file 7 over file 6 at pages 0...15, used as a layer at 8...23.
            var nestedModel = ViewModel(base: 6, pages: 64)
            nestedModel.lay([r(0, 3), r(12, 15)], of: 7)
            let nestedTable = try makeTable([r(0, 3), r(12, 15)])
            var model = ViewModel(base: 100, pages: 64)
            var stack = try LayerStack(base: TestLayer(100, references))
            try stack.lay(try makeTable([r(8, 23)]), ofStack: try buffer([6, 7], references), table: nestedTable)
            model.lay([r(8, 23)], ofView: nestedModel)
            check(try stack.finish(), against: model)
        }
        #expect(references.alive == 0)
    }

    @Test func aShownStackIsTheStartingPoint() throws {
        let references = References()
        do {
            var shownTable = try makeTable([r(2, 4)], layer: 1)
            shownTable = try SegmentTable(laying: try makeTable([r(4, 8)], layer: 2), over: shownTable)
            var model = ViewModel(base: 10, pages: 32)
            model.lay([r(2, 4)], of: 11)
            model.lay([r(4, 8)], of: 12)
            var stack = try LayerStack(layers: try buffer([10, 11, 12], references), table: shownTable)
            try stack.lay(try makeTable([r(3, 5)]), of: TestLayer(13, references))
            model.lay([r(3, 5)], of: 13)
            check(try stack.finish(), against: model)
        }
        #expect(references.alive == 0)
    }

    /// Random stacks of plain and nested layers against the page model, with
    /// files reused across layers.
    @Test func randomStacksMatchTheModel() throws {
        let references = References()
        var random = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let pages = 48
            var model = ViewModel(base: 0, pages: pages)
            var stack = try LayerStack(base: TestLayer(0, references))
            for _ in 0..<(1 + random.below(12)) {
                let ranges = (0..<(1 + random.below(4))).map { _ in
                    let start = random.below(UInt64(pages))
                    return r(start, Swift.min(start + random.below(8), UInt64(pages - 1)))
                }
                if random.below(4) == 0 {
                    // A nested overlay of two files from a small pool.
                    let lower = random.below(6)
                    let upper = 1 + random.below(6)
                    let nestedRanges = [r(random.below(UInt64(pages)), UInt64(pages - 1))]
                    var nestedModel = ViewModel(base: lower, pages: pages)
                    if lower != upper { nestedModel.lay(nestedRanges, of: upper) }
                    let files: [UInt64] = lower != upper ? [lower, upper] : [lower]
                    let table = lower != upper ? try makeTable(nestedRanges) : try SegmentTable()
                    try stack.lay(try makeTable(ranges), ofStack: try buffer(files, references), table: table)
                    model.lay(ranges, ofView: nestedModel)
                } else {
                    let file = random.below(8)
                    try stack.lay(try makeTable(ranges), of: TestLayer(file, references))
                    model.lay(ranges, of: file)
                }
            }
            check(try stack.finish(), against: model)
        }
        #expect(references.alive == 0)
    }

    /// 255 files fit beside the base; a 256th distinct file does not while
    /// they all serve a page; files that serve nothing any more make room.
    @Test func layerLimit() throws {
        let references = References()
        do {
            var stack = try LayerStack(base: TestLayer(0, references))
            for file in 1...255 {
                try stack.lay(try makeTable([r(UInt64(file), UInt64(file))]), of: TestLayer(UInt64(file), references))
            }
            #expect(throws: OverlayError.tooManyLayers) {
                try stack.lay(try makeTable([r(300, 300)]), of: TestLayer(1000, references))
            }
            // File 11, already a layer, covers pages 1...10: ten layers serve
            // nothing now, and a new file finds room.
            try stack.lay(try makeTable([r(1, 10)]), of: TestLayer(11, references))
            try stack.lay(try makeTable([r(300, 300)]), of: TestLayer(1002, references))
            let composed = try stack.finish()
            #expect(composed.layers.count == 1 + 245 + 1)
        }
        #expect(references.alive == 0)
    }

    @Test func equalStacksHaveEqualFingerprints() throws {
        let references = References()
        func compose(_ files: [UInt64]) throws -> UInt64 {
            var stack = try LayerStack(base: TestLayer(files[0], references))
            for (index, file) in files.dropFirst().enumerated() {
                try stack.lay(try makeTable([r(UInt64(index), UInt64(index) + 2)]), of: TestLayer(file, references))
            }
            return try stack.finish().fingerprint
        }
        #expect(try compose([1, 2, 3]) == compose([1, 2, 3]))
        #expect(try compose([1, 2, 3]) != compose([1, 3, 2]))
        #expect(try compose([1, 2, 3]) != compose([9, 2, 3]))
    }
}
