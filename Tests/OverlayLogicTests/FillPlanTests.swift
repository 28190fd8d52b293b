// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct FillPlanTests {
    /// Pieces read directly, as (layer, first, count, pages served).
    private func pieces(_ table: borrowing SegmentTable, first: UInt64, count: UInt64) -> [(LayerIndex, UInt64, UInt64, [UInt64])] {
        var plan = FillPlan(table, first: first, count: count)
        var pieces: [(LayerIndex, UInt64, UInt64, [UInt64])] = []
        plan.readDirectly { piece in
            pieces.append((piece.layer, piece.first, piece.count,
                           (0..<piece.count).filter { piece.serves($0) }.map { piece.first + $0 }))
            return true
        }
        return pieces
    }

    @Test func interleavedLayersReadThroughShortGaps() throws {
        // Every other page overlaid, as a fragmented snapshot layer is: one
        // piece per layer, each reading the other's pages into scratch.
        let table = try makeTable((0..<16).map { r($0 * 2, $0 * 2) })
        let read = pieces(table, first: 0, count: 32)
        #expect(read.count == 2)
        #expect(read.contains { $0.0 == 1 && $0.1 == 0 && $0.2 == 31 && $0.3 == stride(from: 0, to: 32, by: 2).map { UInt64($0) } })
        #expect(read.contains { $0.0 == 0 && $0.1 == 1 && $0.2 == 31 })
    }

    @Test func longGapsSplitPieces() throws {
        // Layer 1's runs are 40 pages apart: it reads none of the base's
        // pages. The base's runs are 10 apart: one piece reads through them.
        let table = try makeTable([r(0, 9), r(50, 59), r(100, 109)])
        let read = pieces(table, first: 0, count: 120)
        let overlay = read.filter { $0.0 == 1 }
        #expect(overlay.count == 3)
        for piece in overlay { #expect(piece.3.count == Int(piece.2), "piece \(piece) reads pages it does not serve") }
        #expect(read.filter { $0.0 == 0 }.count == 1)
    }

    @Test func aLongRunIsOnePiece() throws {
        let table = try makeTable([r(0, 700)])
        let read = pieces(table, first: 0, count: 700)
        #expect(read.count == 1 && read[0].0 == 1 && read[0].2 == 700 && read[0].3.count == 700)
    }

    /// Whatever the direct reads achieve, every page of the batch is filled
    /// exactly once, by the layer the table names for it: the pieces read
    /// directly fill the pages they serve, the refused ones' runs are
    /// copied; no piece reads a gap longer than `maxGap` or more than
    /// `maxPieceLength` pages with gaps. Checked against the table's own
    /// lookup, for random tables of up to 12 layers and batches of up to 767 pages.
    @Test func everyPageFilledOnceByItsLayerWhateverReadsDirectly() throws {
        var random = SplitMix64(seed: 17)
        for _ in 0..<300 {
            var table = try makeTable([r(0, 0)], layer: 1)
            for layer in 1...(1 + random.below(11)) {
                let first = random.below(800)
                let ranges = (0..<random.below(12)).map { _ in
                    let start = random.below(800)
                    return r(start, start + random.below(40))
                } + [r(first, first)]
                table = try SegmentTable(laying: try makeTable(ranges, layer: LayerIndex(layer)), over: table)
            }
            let first = random.below(40)
            let count = 1 + random.below(767)
            var plan = FillPlan(table, first: first, count: count)
            var filled = [LayerIndex?](repeating: nil, count: Int(count))
            plan.readDirectly { piece in
                #expect(piece.first >= first && piece.first + piece.count <= first + count)
                if !piece.allServed { #expect(piece.count <= FillPlan.maxPieceLength) }
                var gap: UInt64 = 0
                for offset in 0..<piece.count {
                    if piece.serves(offset) { gap = 0 } else { gap += 1 }
                    #expect(gap <= FillPlan.maxGap, "a gap of more than \(FillPlan.maxGap) pages read")
                }
                if random.below(3) == 0 { return false }
                for offset in 0..<piece.count where piece.serves(offset) {
                    let page = piece.first + offset
                    #expect(filled[Int(page - first)] == nil, "page \(page) filled twice")
                    filled[Int(page - first)] = piece.layer
                }
                return true
            }
            plan.forEachRunToCopy { run in
                for page in run.first..<(run.first + run.count) {
                    #expect(filled[Int(page - first)] == nil, "page \(page) filled twice")
                    filled[Int(page - first)] = run.layer
                }
            }
            for offset in 0..<Int(count) {
                let page = first + UInt64(offset)
                #expect(filled[offset] == table.layer(forPage: page), "page \(page)")
            }
        }
    }
}
