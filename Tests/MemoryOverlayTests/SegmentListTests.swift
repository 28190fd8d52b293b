// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import MemoryOverlayTesting
import Testing

@Suite("SegmentList: what the library refuses before the kernel sees it")
struct SegmentListTests {
    @Test func parsesPagesAndRanges() throws {
        let segments = try SegmentList(parsing: "0,4-6,20-21")
        #expect(Array(segments) == [0...0, 4...6, 20...21])
    }

    @Test func parsesOneRangePerLine() throws {
        let segments = try SegmentList(parsing: "30-70\n80-140\n\n0\n")
        #expect(Array(segments) == [30...70, 80...140, 0...0])
    }

    @Test func namesTheSegmentThatEndsBeforeItStarts() {
        #expect(throws: SegmentError.endBeforeStart(index: 3, start: 9, end: 2)) {
            try SegmentList(parsing: "0,1,2,9-2")
        }
        #expect(SegmentError.endBeforeStart(index: 3, start: 9, end: 2).description
                == "segment 3: end 2 before start 9")
    }

    @Test func refusesUnreadableItems() {
        #expect(throws: SegmentError.unreadable(index: 1, text: "x")) { try SegmentList(parsing: "1,x") }
        #expect(throws: SegmentError.unreadable(index: 0, text: "-5")) { try SegmentList(parsing: "-5") }
        #expect(throws: SegmentError.unreadable(index: 0, text: "3-")) { try SegmentList(parsing: "3-") }
    }

    @Test func refusesNoSegmentsAndNegativePages() {
        #expect(throws: SegmentError.noSegments) { try SegmentList([ClosedRange<Int>]()) }
        #expect(throws: SegmentError.noSegments) { try SegmentList(parsing: " ,\n") }
        #expect(throws: SegmentError.negativePage(index: 1, page: -1)) { try SegmentList([0...1, -1...3]) }
    }

    @Test func refusesMoreSegmentsThanTheModuleAccepts() {
        let limit = SegmentList.maximumCount
        #expect(limit == 1 << 20)
        let ranges = (0...limit).map { (2 * $0)...(2 * $0) }
        #expect(throws: SegmentError.tooManySegments(count: limit + 1, limit: limit)) { try SegmentList(ranges) }
    }

    @Test func mergesOverlappingAndTouchingSegments() throws {
        let segments = try SegmentList([20...21, 0...0, 4...6, 5...9, 10...10, 30...40])
        #expect(segments.merged == [0...0, 4...10, 20...21, 30...40])
    }

    /// What a SegmentList refuses to hold, the tests send as RawSegments
    /// (MemoryOverlayTesting), kept exactly as given.
    @Test func rawSegmentsKeepUncheckedPairsAsGiven() {
        let segments = RawSegments(pairs: [(start: 9, end: 2)])
        #expect(segments.pairs.count == 1 && segments.pairs[0].start == 9 && segments.pairs[0].end == 2)
        #expect(RawSegments(pairs: []).count == 0)
    }

    @Test func convertsAlignedByteRangesToPages() throws {
        let page = MemoryPage.size
        #expect(try ClosedRange(pagesOfBytes: 0..<(2 * page)) == 0...1)
        #expect(try ClosedRange(pagesOfBytes: (4 * page)..<(7 * page)) == 4...6)
    }

    @Test func refusesUnalignedOrEmptyByteRanges() {
        let page = MemoryPage.size
        #expect(throws: SegmentError.unalignedByteOffset(1, pageSize: page)) {
            try ClosedRange(pagesOfBytes: 1..<page)
        }
        #expect(throws: SegmentError.unalignedByteOffset(page + 7, pageSize: page)) {
            try ClosedRange(pagesOfBytes: 0..<(page + 7))
        }
        #expect(throws: SegmentError.emptyByteRange(page..<page)) { try ClosedRange(pagesOfBytes: page..<page) }
    }
}
