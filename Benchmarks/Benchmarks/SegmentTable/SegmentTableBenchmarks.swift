// SPDX-License-Identifier: GPL-2.0-or-later
// Micro-benchmarks of the segment table, the code every create ioctl and
// every page-cache fill of an overlay runs: building (normalising) a
// request of a million segments, looking pages up, splitting readahead
// batches into runs (FaultPlan) and layer spans (LayerSpans), and stacking
// two tables. Regressions in this logic show here without a guest.
import Benchmark

/// A million segments: the module's limit is 1,048,576 a request.
let segmentCount = 1_000_000

/// Segment `index` of the benchmarks' layout: one page, every other page
/// (pages 1, 3, 5, ...), the most fragmented request there is.
func segment(_ index: Int) -> PageRange {
    let page = UInt64(2 * index + 1)
    return PageRange(first: page, last: page)
}

/// A request's segments copied into a platform buffer, as the create ioctl
/// copies them from userspace: in page order, or shuffled (every unsorted
/// request is heap-sorted in place).
func requestBuffer(shuffled: Bool) -> PlatformBuffer<PageRange> {
    let buffer = try! PlatformBuffer<PageRange>(capacity: segmentCount, chargedToCaller: true)
    for index in 0..<segmentCount { buffer.base[index] = segment(index) }
    if shuffled {
        var generator = SplitMix64(seed: 0x6261_7463_6873_7973)
        var index = segmentCount - 1
        while index > 0 {
            let other = Int(generator.next() % UInt64(index + 1))
            let value = buffer.base[index]
            buffer.base[index] = buffer.base[other]
            buffer.base[other] = value
            index -= 1
        }
    }
    return buffer
}

/// A normalised table of the layout, served by layer 1.
func makeTable() -> SegmentTable {
    try! SegmentTable(request: requestBuffer(shuffled: false), requested: segmentCount, layer: 1)
}

/// Pages to look up: pseudo-random over the table's range, fixed by a seed.
func lookupPages(_ count: Int) -> [UInt64] {
    var generator = SplitMix64(seed: 42)
    return (0..<count).map { _ in generator.next() % UInt64(2 * segmentCount + 2) }
}

/// The module fills the overlay in readahead batches of up to 64 pages.
let batchPages: UInt64 = 64

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(2),
        maxIterations: 50
    )

    // Building: a request of a million one-page segments normalised in
    // place (check, sort when unsorted, merge, store 16 bytes each). The
    // request buffer is filled before the measurement starts, and the
    // table freed after it stops.
    Benchmark("SegmentTable build, 1M sorted segments") { benchmark in
        let buffer = requestBuffer(shuffled: false)
        benchmark.startMeasurement()
        let table = try! SegmentTable(request: buffer, requested: segmentCount, layer: 1)
        blackHole(table.count)
        benchmark.stopMeasurement()
    }

    Benchmark("SegmentTable build, 1M shuffled segments (heap sort)") { benchmark in
        let buffer = requestBuffer(shuffled: true)
        benchmark.startMeasurement()
        let table = try! SegmentTable(request: buffer, requested: segmentCount, layer: 1)
        blackHole(table.count)
        benchmark.stopMeasurement()
    }

    // Lookup: which layer serves a page (binary search over 1M segments).
    // A million lookups an iteration; none may allocate.
    Benchmark("SegmentTable lookup, 1M lookups in 1M segments",
              configuration: .init(scalingFactor: .mega)) { benchmark, setup in
        let (table, pages) = setup
        var overlayPages = 0
        for page in pages where table.layer(forPage: page) != Layers.base { overlayPages += 1 }
        blackHole(overlayPages)
    } setup: {
        (BoxedTable(makeTable()), lookupPages(1_000_000))
    }

    // Run split: every 64-page readahead batch over the whole table split
    // into runs of one layer (FaultPlan), then into layer spans (what the
    // fill path does for each batch). 62,500 batches an iteration.
    Benchmark("FaultPlan, 64-page batches over 1M segments") { benchmark, table in
        var runs: UInt64 = 0
        var first: UInt64 = 0
        let end = UInt64(2 * segmentCount)
        while first < end {
            for run in table.plan(first: first, count: batchPages) { runs &+= run.count }
            first += batchPages
        }
        blackHole(runs)
    } setup: {
        BoxedTable(makeTable())
    }

    Benchmark("LayerSpans, 64-page batches over 1M segments") { benchmark, table in
        var spans = 0
        var first: UInt64 = 0
        let end = UInt64(2 * segmentCount)
        while first < end {
            spans &+= LayerSpans(table.plan(first: first, count: batchPages)).count
            first += batchPages
        }
        blackHole(spans)
    } setup: {
        BoxedTable(makeTable())
    }

    // Stacking: a second request of 1M segments (the even pages) laid over
    // the first (the create ioctl on an overlaid mapping flattens the two).
    Benchmark("SegmentTable stack, 1M over 1M segments") { benchmark, lower in
        let buffer = try! PlatformBuffer<PageRange>(capacity: segmentCount, chargedToCaller: true)
        for index in 0..<segmentCount {
            buffer.base[index] = PageRange(first: UInt64(2 * index), last: UInt64(2 * index))
        }
        let upper = try! SegmentTable(request: buffer, requested: segmentCount, layer: 2)
        benchmark.startMeasurement()
        let stacked = try! SegmentTable(laying: upper, over: lower.table)
        blackHole(stacked.count)
        benchmark.stopMeasurement()
    } setup: {
        BoxedTable(makeTable())
    }
    // Sharing: what a create request pays to find an overlay it may share,
    // at a million segments: the stack's fingerprint (one pass over the
    // table), the index lookup, and the full comparison with the candidate
    // that matched (a second pass). The candidate is a separate table with
    // the same segments, as another process's overlay would be.
    Benchmark("Sharing lookup, 1M segments (fingerprint, index, full compare)") { benchmark, setup in
        let (request, candidate) = (setup.request, setup.candidate)
        benchmark.startMeasurement()
        var fingerprint = StackFingerprint()
        request.table.fingerprint(into: &fingerprint)
        let found = setup.index.claim(fingerprint: fingerprint.value) { _ in
            candidate.table.hasSameSegments(as: request.table) ? .take : .skip
        }
        blackHole(found)
        benchmark.stopMeasurement()
    } setup: {
        SharingSetup()
    }
}

/// A request's table, another overlay's equal table, and an index of 1,000
/// overlays holding the other one's fingerprint.
final class SharingSetup: @unchecked Sendable {
    let request = BoxedTable(makeTable())
    let candidate = BoxedTable(makeTable())
    var index = SharedOverlayIndex()

    init() {
        var generator = SplitMix64(seed: 7)
        let handle = UnsafeMutableRawPointer(bitPattern: 0x1000)!
        for _ in 0..<999 { try! index.insert(fingerprint: generator.next(), handle: handle) }
        var fingerprint = StackFingerprint()
        candidate.table.fingerprint(into: &fingerprint)
        try! index.insert(fingerprint: fingerprint.value, handle: UnsafeMutableRawPointer(bitPattern: 0x2000)!)
    }
}

/// A table in a class: setup state is passed as a copyable value, and
/// `SegmentTable` is `~Copyable`.
final class BoxedTable: @unchecked Sendable {
    let table: SegmentTable
    init(_ table: consuming SegmentTable) { self.table = table }

    func layer(forPage page: UInt64) -> LayerIndex { table.layer(forPage: page) }
    func plan(first: UInt64, count: UInt64) -> FaultPlan { table.plan(first: first, count: count) }
}
