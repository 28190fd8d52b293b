// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// A sparse file as SEEK_DATA and SEEK_HOLE see it (byte ranges of data),
/// and, when its filesystem keeps one, as its extent map (FIEMAP) reports
/// it: a few extents a call, as a filesystem may.
private struct SparseFile: DataExtentSource {
    var size: Int64
    var data: [Range<Int64>]
    /// The extent map; nil: the filesystem keeps none.
    var map: [MappedExtent]? = nil
    /// Extents the map answers a call at most.
    var perCall = 3

    var byteSize: Int64 { size }

    func mappedExtents(from offset: UInt64,
                       into buffer: UnsafeMutableBufferPointer<MappedExtent>) throws(OverlayError) -> Int? {
        guard let map else { return nil }
        let following = map.filter { $0.offset + $0.length > offset }.prefix(Swift.min(perCall, buffer.count))
        for (index, extent) in following.enumerated() { buffer[index] = extent }
        return following.count
    }

    func nextData(from offset: Int64) throws(OverlayError) -> Int64? {
        guard offset < size else { return nil }
        if let extent = data.first(where: { $0.upperBound > offset }) { return Swift.max(extent.lowerBound, offset) }
        return nil
    }

    func nextHole(from offset: Int64) throws(OverlayError) -> Int64 {
        if let extent = data.first(where: { $0.contains(offset) }) { return extent.upperBound }
        return Swift.min(offset, size)
    }

    /// The same file on a filesystem with an extent map: each data range
    /// split into extents of at most `extentBytes`, unwritten extents in
    /// the holes between, the last one flagged.
    func mapped(extentBytes: Int64, unwrittenHoles: Bool) -> SparseFile {
        var extents: [MappedExtent] = []
        var previousEnd: Int64 = 0
        for range in data {
            if unwrittenHoles && range.lowerBound > previousEnd {
                extents.append(MappedExtent(offset: UInt64(previousEnd), length: UInt64(range.lowerBound - previousEnd),
                                            isUnwritten: true, isLast: false))
            }
            var start = range.lowerBound
            while start < range.upperBound {
                let end = Swift.min(start + extentBytes, range.upperBound)
                extents.append(MappedExtent(offset: UInt64(start), length: UInt64(end - start),
                                            isUnwritten: false, isLast: false))
                start = end
            }
            previousEnd = range.upperBound
        }
        if !extents.isEmpty { extents[extents.count - 1].isLast = true }
        var file = self
        file.map = extents
        return file
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

    /// The extent map's answer is SEEK_DATA's for the same data, however
    /// the filesystem splits it into extents and whatever unwritten
    /// extents lie between.
    @Test func anExtentMapGivesTheSeekPages() throws {
        var random = SplitMix64(seed: 11)
        for _ in 0..<200 {
            var data: [Range<Int64>] = []
            var cursor = Int64(random.below(20_000))
            for _ in 0..<random.below(8) {
                let length = 1 + Int64(random.below(40_000))
                data.append(cursor..<cursor + length)
                cursor += length + 1 + Int64(random.below(20_000))
            }
            let file = SparseFile(size: cursor + Int64(random.below(10_000)), data: data)
            let expected = try pages(file)
            for extentBytes: Int64 in [4096, 5000, 1 << 20] {
                for unwrittenHoles in [false, true] {
                    #expect(try pages(file.mapped(extentBytes: extentBytes, unwrittenHoles: unwrittenHoles)) == expected,
                            "extents of \(extentBytes) bytes, unwritten holes: \(unwrittenHoles)")
                }
            }
        }
    }

    @Test func unwrittenExtentsAreHoles() throws {
        let page: UInt64 = 4096
        let file = SparseFile(size: 10 * 4096, data: [], map: [
            MappedExtent(offset: 0, length: 2 * page, isUnwritten: false, isLast: false),
            MappedExtent(offset: 2 * page, length: 5 * page, isUnwritten: true, isLast: false),
            MappedExtent(offset: 7 * page, length: page, isUnwritten: false, isLast: true),
        ])
        #expect(try pages(file) == [0...1, 7...7])
        var allUnwritten = file
        allUnwritten.map = [MappedExtent(offset: 0, length: 10 * page, isUnwritten: true, isLast: true)]
        #expect(try pages(allUnwritten) == [])
    }

    /// Data lies only before the file's end: an extent past it (a block
    /// kept by the filesystem) serves nothing, one across it serves up to
    /// the end's page.
    @Test func extentsStopAtTheFilesEnd() throws {
        let file = SparseFile(size: 3 * 4096 + 10, data: [], map: [
            MappedExtent(offset: 2 * 4096, length: 4 * 4096, isUnwritten: false, isLast: false),
            MappedExtent(offset: 8 * 4096, length: 4096, isUnwritten: false, isLast: true),
        ])
        #expect(try pages(file) == [2...3])
        #expect(try pages(SparseFile(size: 0, data: [], map: [
            MappedExtent(offset: 0, length: 4096, isUnwritten: false, isLast: true),
        ])) == [])
    }

    /// A map without a last flag ends when a call answers none; one that
    /// goes backwards is left for SEEK_DATA.
    @Test func aMapEndsOrIsLeft() throws {
        let page: UInt64 = 4096
        let unflagged = SparseFile(size: 8 * 4096, data: [], map: [
            MappedExtent(offset: page, length: page, isUnwritten: false, isLast: false),
            MappedExtent(offset: 4 * page, length: page, isUnwritten: false, isLast: false),
        ], perCall: 1)
        #expect(try pages(unflagged) == [1...1, 4...4])
        let backwards = SparseFile(size: 8 * 4096, data: [5 * 4096..<6 * 4096], map: [
            MappedExtent(offset: 4 * page, length: page, isUnwritten: false, isLast: false),
            MappedExtent(offset: page, length: page, isUnwritten: false, isLast: true),
        ])
        #expect(try pages(backwards) == [5...5])
    }
}
