// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct FillPlanTests {
    @Test func interleavedLayersGetOneRunAPage() throws {
        // Every other page overlaid, as a fragmented snapshot layer is.
        let table = try makeTable((0..<16).map { r($0 * 2, $0 * 2) })
        var plan = FillPlan(table, first: 0, count: 32)
        var runs: [LayerRun] = []
        plan.readDirectly { run in runs.append(run); return true }
        #expect(runs.count == 32 && plan.refusedCount == 0)
        #expect(runs.prefix(2) == [LayerRun(layer: 1, first: 0, count: 1), LayerRun(layer: 0, first: 1, count: 1)])
    }

    @Test func singleRunCoversTheBatch() throws {
        let table = try makeTable([r(0, 100)])
        var plan = FillPlan(table, first: 10, count: 32)
        var runs: [LayerRun] = []
        plan.readDirectly { run in runs.append(run); return false }
        #expect(runs == [LayerRun(layer: 1, first: 10, count: 32)])
        var copied: [LayerRun] = []
        plan.forEachRefusedRun { copied.append($0) }
        #expect(copied == runs)
    }

    /// Whatever the direct reads achieve, every page of the batch is filled
    /// exactly once, by the layer the table names for it: the runs read
    /// directly fill theirs, the refused runs are copied. Checked against
    /// the table's own lookup, for random tables of up to 12 layers and
    /// batches of up to 256 pages.
    @Test func everyPageFilledOnceByItsLayerWhateverReadsDirectly() throws {
        var random = SplitMix64(seed: 17)
        for _ in 0..<300 {
            var table = try makeTable([r(0, 0)], layer: 1)
            for layer in 1...(1 + random.below(11)) {
                let first = random.below(300)
                let ranges = (0..<random.below(9)).map { _ in
                    let start = random.below(300)
                    return r(start, start + random.below(9))
                } + [r(first, first)]
                table = try SegmentTable(laying: try makeTable(ranges, layer: LayerIndex(layer)), over: table)
            }
            let first = random.below(40)
            let count = 1 + random.below(768)
            var plan = FillPlan(table, first: first, count: count)
            var filled = [LayerIndex?](repeating: nil, count: Int(count))
            var runs: [LayerRun] = []
            plan.readDirectly { run in
                runs.append(run)
                if random.below(3) == 0 { return false }
                for page in run.first..<(run.first + run.count) {
                    #expect(filled[Int(page - first)] == nil, "page \(page) filled twice")
                    filled[Int(page - first)] = run.layer
                }
                return true
            }
            plan.forEachRefusedRun { run in
                for page in run.first..<(run.first + run.count) {
                    #expect(filled[Int(page - first)] == nil, "page \(page) filled twice")
                    filled[Int(page - first)] = run.layer
                }
            }
            #expect(runs.count <= FillPlan.maxRuns)
            for offset in 0..<Int(count) {
                let page = first + UInt64(offset)
                #expect(filled[offset] == table.layer(forPage: page), "page \(page)")
            }
        }
    }
}
