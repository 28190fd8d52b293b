// SPDX-License-Identifier: GPL-2.0-or-later
@testable import BatchSyscallsBench
import Testing

@Suite("Time to ready: the working set, the touch order and the ratio table")
struct BenchReadyTests {
    /// The size, and smaller ones the bench accepts.
    static let sizes = [262_144, 65_536, 16_384, 4_096]

    @Test(arguments: sizes) func workingSetIsAQuarterInAThousandDisjointClustersInRange(pages: Int) {
        let layout = BenchReadyLayout(pages: pages)
        let clusters = layout.workingSet
        #expect(clusters.count == 1_000)
        #expect(clusters.reduce(0) { $0 + $1.count } == pages / 4)
        #expect(clusters.allSatisfy { !$0.isEmpty && $0.lowerBound >= 0 && $0.upperBound < pages })
        // Sorted, a clean page between two: none overlaps or touches another.
        for (earlier, later) in zip(clusters, clusters.dropFirst()) {
            #expect(earlier.upperBound + 1 < later.lowerBound)
        }
    }

    @Test func workingSetFollowsTheSeed() {
        #expect(BenchReadyLayout(pages: 65_536).workingSet == BenchReadyLayout(pages: 65_536).workingSet)
        #expect(BenchReadyLayout(pages: 65_536).workingSet != BenchReadyLayout(pages: 65_537).workingSet)
        // Clusters of different lengths, at different distances.
        let lengths = Set(BenchReadyLayout(pages: 65_536).workingSet.map(\.count))
        #expect(lengths.count > 10)
    }

    @Test func fewPagesMakeFewerClusters() {
        let layout = BenchReadyLayout(pages: 2_000)
        #expect(layout.clusterCount == 500)
        #expect(layout.workingSet.count == 500)
        #expect(layout.workingSet.reduce(0) { $0 + $1.count } == 500)
    }

    @Test(arguments: sizes) func touchOrderIsAnotherPermutationOfTheRecordedOrder(pages: Int) {
        let layout = BenchReadyLayout(pages: pages)
        let recorded = layout.recordedOrder
        let touch = layout.touchOrder
        #expect(touch.count == recorded.count)
        #expect(touch.sorted() == recorded)
        #expect(recorded == recorded.sorted())
        #expect(touch != recorded)
        // Each cluster backwards: the first page of the order is some cluster's last.
        let clusterEnds = Set(layout.workingSet.map(\.upperBound))
        #expect(clusterEnds.contains(touch[0]))
        #expect(touch == layout.touchOrder)
    }

    @Test func diffsAreSparseAndDiffer() {
        let layout = BenchReadyLayout(pages: 65_536)
        let runs = (1...3).map { layout.dirtyRuns(ofDiff: $0) }
        #expect(runs[0] != runs[1] && runs[1] != runs[2])
        for diff in runs {
            let dirty = diff.reduce(0) { $0 + $1.count }
            #expect(dirty > 65_536 * 3 / 100 && dirty < 65_536 * 7 / 100)
            #expect(diff.allSatisfy { (1...8).contains($0.count) && $0.upperBound < 65_536 })
        }
        // The topmost diff serves its pages.
        let serving = layout.servingLayers
        #expect(runs[2].allSatisfy { run in run.allSatisfy { serving[$0] == 3 } })
    }

    @Test func ratiosAreOverTheFloorsAndDashWithoutOne() {
        #expect(BenchReadyTables.ratio(150, 100) == "1.50x")
        #expect(BenchReadyTables.ratio(100, 100) == "1.00x")
        #expect(BenchReadyTables.ratio(12_345, 10) == "1235x")
        #expect(BenchReadyTables.ratio(0, 100) == "<0.01x")
        #expect(BenchReadyTables.ratio(5, 0) == "-")
        #expect(BenchReadyTables.ratio(nil, 100) == "-")
        #expect(BenchReadyTables.ratio(5, nil) == "-")
    }

    @Test func tableRowsCarryRatiosToTheFloorOfTheSameCache() {
        typealias Sample = BenchReady.Result.Sample
        func result(_ method: BenchReadyMethod, _ cache: BenchCache, ready: [UInt64], major: UInt64,
                    read: UInt64) -> BenchReady.Result {
            var result = BenchReady.Result(method: method, cache: cache)
            result.samples = ready.map { Sample(setup: 10, ready: $0, majorFaults: major, minorFaults: 100, diskKiB: read) }
            return result
        }
        var outcome = BenchReady.Outcome(pages: 4_096)
        outcome.results = [
            result(.floor, .cold, ready: [300, 100, 200], major: 10, read: 2_048),
            result(.overlay, .cold, ready: [50, 100, 900], major: 5, read: 1_024),
            result(.floor, .warm, ready: [40], major: 0, read: 0),
            result(.overlay, .warm, ready: [20], major: 0, read: 0),
            BenchReady.Result(method: .userfaultfd, cache: .warm, error: .unavailable("no userfaultfd")),
        ]
        let table = BenchReadyTables(outcome: outcome).table
        #expect(table.headers == ["method", "cache", "setup", "ready", "vs floor", "major faults", "vs floor",
                                  "minor faults", "vs floor", "MiB read", "vs floor", "contents"])
        #expect(table.rows[0] == ["floor", "cold", "10 ns", "200 ns", "1.00x", "10", "1.00x", "100", "1.00x", "2.0",
                                  "1.00x", "right"])
        // Medians: 100 against the floor's 200.
        #expect(table.rows[1] == ["overlay", "cold", "10 ns", "100 ns", "0.50x", "5", "0.50x", "100", "1.00x", "1.0",
                                  "0.50x", "right"])
        // No major faults or reads in the warm floor: no ratio to them.
        #expect(table.rows[3] == ["overlay", "warm", "10 ns", "20 ns", "0.50x", "0", "-", "100", "1.00x", "0.0", "-",
                                  "right"])
        #expect(table.rows[4].first == "uffd-prefetch" && table.rows[4][2] == "unavailable"
                && table.rows[4].last == "no userfaultfd")
        #expect(table.markdown.contains("| overlay | cold | 10 ns | 100 ns | 0.50x |"))
    }
}
