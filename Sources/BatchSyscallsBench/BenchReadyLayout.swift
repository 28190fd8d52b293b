// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SampleFiles

/// What the time-to-ready case restores and touches: a base of `pages`
/// pages, three sparse diffs over it (each about 5 % dirty in runs of 1 to
/// 8 pages, each from its own seed), and a working set of 25 % of the pages
/// in 1,000 clusters at random places. All of it follows from the seed, so
/// the host that writes the files and the guest that measures agree.
struct BenchReadyLayout: Sendable, Equatable {
    /// Pages of the base, of each diff and of the merged file.
    let pages: Int
    let diffs: Int
    let dirtyPercent: Int
    /// Clusters of the working set (fewer when the pages are too few for
    /// this many with a clean page between two).
    let clusterCount: Int
    let workingSetPercent: Int

    init(pages: Int, diffs: Int = 3, dirtyPercent: Int = 5, clusters: Int = 1_000, workingSetPercent: Int = 25) {
        self.pages = pages
        self.diffs = diffs
        self.dirtyPercent = dirtyPercent
        self.workingSetPercent = workingSetPercent
        let working = pages * workingSetPercent / 100
        // Every cluster at least a page, and a clean page between two.
        clusterCount = max(1, min(clusters, working, pages - working + 1))
    }

    /// The base's and diff `k`'s (from 1) page patterns: streams of their
    /// own, so a page served by the wrong layer shows it.
    static let basePattern = PagePattern.seeded(stream: 70)
    static func diffPattern(_ k: Int) -> PagePattern { .seeded(stream: UInt32(70 + k)) }

    private func generator(_ stream: UInt64) -> SplitMix64 {
        SplitMix64(seed: BenchDataFiles.seed ^ (UInt64(pages) &* 0x9E37_79B9_7F4A_7C15) ^ stream)
    }

    /// Diff `k`'s (from 1) dirty runs, in page order: the fan-out's sparse
    /// diffs, from seeds of their own (index 1000 + k).
    func dirtyRuns(ofDiff k: Int) -> [ClosedRange<Int>] {
        BenchSparseDiffs(pages: pages, dirtyPercent: dirtyPercent, touchPercent: 100).dirtyRuns(1_000 + k)
    }

    /// The layer serving each page in the composed view (0: the base): the
    /// topmost diff holding it.
    var servingLayers: [UInt8] {
        var serving = [UInt8](repeating: 0, count: pages)
        for k in stride(from: 1, through: diffs, by: 1) {
            for run in dirtyRuns(ofDiff: k) { for page in run { serving[page] = UInt8(k) } }
        }
        return serving
    }

    /// The working set's clusters, in page order: `workingSetPercent` % of
    /// the pages in `clusterCount` runs of random lengths (half to one and
    /// a half times the mean), at random places with at least one clean
    /// page between two (so no two overlap or touch).
    var workingSet: [ClosedRange<Int>] {
        var random = generator(0x7365_7473)
        let working = pages * workingSetPercent / 100
        let sizes = Self.split(working, into: clusterCount, minimum: 1, using: &random)
        // Gaps before each cluster and after the last; the inner ones at least a page.
        var gaps = Self.split(pages - working - (clusterCount - 1), into: clusterCount + 1, minimum: 0, using: &random)
        for index in 1..<clusterCount { gaps[index] += 1 }
        var clusters: [ClosedRange<Int>] = []
        clusters.reserveCapacity(clusterCount)
        var page = 0
        for index in 0..<clusterCount {
            page += gaps[index]
            clusters.append(page...(page + sizes[index] - 1))
            page += sizes[index]
        }
        return clusters
    }

    /// `total` split into `parts` random shares of at least `minimum`
    /// each, summing to `total` exactly.
    static func split(_ total: Int, into parts: Int, minimum: Int,
                      using random: inout SplitMix64) -> [Int] {
        let spare = total - minimum * parts
        let weights = (0..<parts).map { _ in Double.random(in: 0.5...1.5, using: &random) }
        let sum = weights.reduce(0, +)
        var shares = weights.map { minimum + Int(Double(spare) * $0 / sum) }
        // Rounding down leaves a few pages over: one more for the first few.
        var left = total - shares.reduce(0, +)
        var index = 0
        while left > 0 {
            shares[index % parts] += 1
            left -= 1
            index += 1
        }
        return shares
    }

    /// The order the recording run touches the working set in: page order.
    var recordedOrder: [Int] { workingSet.flatMap { Array($0) } }

    /// The order the measured runs touch it in: the clusters shuffled, each
    /// cluster's pages from its last to its first, so a method that does
    /// well only by following the recorded order shows it.
    var touchOrder: [Int] {
        var random = generator(0x6F72_6465)
        return workingSet.shuffled(using: &random).flatMap { $0.reversed() }
    }

    /// What ``BenchTouch/read(_:pages:)`` sums over the working set of the
    /// composed view (in any order): each page's stream and page number's
    /// low half.
    var expectedChecksum: UInt64 {
        let serving = servingLayers
        var sum: UInt64 = 0
        for page in recordedOrder {
            sum &+= UInt64(70 + Int(serving[page])) | UInt64(UInt32(truncatingIfNeeded: page)) << 32
        }
        return sum
    }
}
