// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// A sparse file as SEEK_DATA and SEEK_HOLE see it: byte ranges of data.
private struct SparseFile: DataExtentSource {
    var size: Int64
    var data: [Range<Int64>]

    func nextData(from offset: Int64) throws(OverlayError) -> Int64? {
        guard offset < size else { return nil }
        if let extent = data.first(where: { $0.upperBound > offset }) { return Swift.max(extent.lowerBound, offset) }
        return nil
    }

    func nextHole(from offset: Int64) throws(OverlayError) -> Int64 {
        if let extent = data.first(where: { $0.contains(offset) }) { return extent.upperBound }
        return Swift.min(offset, size)
    }
}

@Suite struct DataExtentsTests {
    @Test func aFileCoversItsPartPages() {
        #expect(pageCount(ofFileBytes: 0) == 0)
        #expect(pageCount(ofFileBytes: 1) == 1)
        #expect(pageCount(ofFileBytes: 4096) == 1)
        #expect(pageCount(ofFileBytes: 4097) == 2)
        #expect(pageCount(ofFileBytes: -1) == 0)
    }

    private func pages(_ file: SparseFile) throws -> [ClosedRange<UInt64>] {
        // The table must outlive the read of its segments.
        let table = try SegmentTable.dataExtents(of: file)
        return table.segments.map { $0.first...$0.last }
    }

    @Test func extentsBecomePagesPartialPagesCount() throws {
        #expect(try pages(SparseFile(size: 0, data: [])) == [])
        #expect(try pages(SparseFile(size: 1 << 20, data: [])) == [], "all holes")
        #expect(try pages(SparseFile(size: 8192, data: [0..<8192])) == [0...1], "all data")
        // A byte of data in page 3, two pages at 10...11, and data from page 20 to the end.
        let file = SparseFile(size: 100 * 4096, data: [3 * 4096 + 7..<3 * 4096 + 8, 10 * 4096..<12 * 4096,
                                                       20 * 4096..<100 * 4096])
        #expect(try pages(file) == [3...3, 10...11, 20...99])
        // Adjacent extents in one page merge.
        #expect(try pages(SparseFile(size: 4096 * 4, data: [0..<100, 200..<4096 + 1])) == [0...1])
    }

    /// Random sparse files against a page-by-page model.
    @Test func randomFilesMatchTheModel() throws {
        var random = SplitMix64(seed: 5)
        for _ in 0..<200 {
            var data: [Range<Int64>] = []
            var cursor: Int64 = Int64(random.below(20_000))
            for _ in 0..<random.below(8) {
                let length = 1 + Int64(random.below(20_000))
                data.append(cursor..<cursor + length)
                cursor += length + 1 + Int64(random.below(20_000))
            }
            let file = SparseFile(size: cursor + Int64(random.below(10_000)), data: data)
            let table = try SegmentTable.dataExtents(of: file)
            for page in 0..<UInt64((file.size + 4095) / 4096) {
                let bytes = Int64(page) * 4096..<Int64(page + 1) * 4096
                let holdsData = data.contains { $0.overlaps(bytes) }
                #expect((table.layer(forPage: page) != Layers.base) == holdsData, "page \(page)")
            }
        }
    }
}
