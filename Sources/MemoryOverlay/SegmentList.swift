// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls

/// The page ranges of one overlay request: inclusive ranges of file page
/// offsets whose pages the overlay file serves.
///
/// Segments may be unsorted and may overlap or touch; the module merges
/// them. A `SegmentList` made by the throwing initialisers holds at least one
/// segment, no negative page and no more segments than the module accepts.
public struct SegmentList: Sendable, Equatable, RandomAccessCollection {
    /// The largest number of segments one request may carry
    /// (`MEM_OVERLAY_MAX_SEGMENTS`).
    public static let maximumCount = Int(BATCH_SYSCALLS_MAX_SEGMENTS)

    /// The segments as (first page, last page) pairs, exactly as they go to
    /// the kernel.
    public private(set) var pairs: [(start: UInt, end: UInt)]

    /// Checked segments from page ranges.
    ///
    /// - Throws: ``SegmentError/noSegments``, ``SegmentError/negativePage(index:page:)``
    ///   or ``SegmentError/tooManySegments(count:limit:)``.
    public init(_ ranges: some Sequence<ClosedRange<Int>>) throws(SegmentError) {
        var pairs: [(start: UInt, end: UInt)] = []
        for (index, range) in ranges.enumerated() {
            guard range.lowerBound >= 0 else { throw .negativePage(index: index, page: range.lowerBound) }
            pairs.append((UInt(range.lowerBound), UInt(range.upperBound)))
        }
        try self.init(checkedPairs: pairs)
    }

    /// Checked segments from (first page, last page) pairs, such as a file or
    /// another program supplies.
    ///
    /// - Throws: ``SegmentError/endBeforeStart(index:start:end:)`` for a pair
    ///   whose end is below its start, and the errors of ``init(_:)``.
    public init(pairs: some Sequence<(start: Int, end: Int)>) throws(SegmentError) {
        var checked: [(start: UInt, end: UInt)] = []
        for (index, pair) in pairs.enumerated() {
            guard pair.start >= 0 else { throw .negativePage(index: index, page: pair.start) }
            guard pair.end >= pair.start else { throw .endBeforeStart(index: index, start: pair.start, end: pair.end) }
            checked.append((UInt(pair.start), UInt(pair.end)))
        }
        try self.init(checkedPairs: checked)
    }

    /// Segments sent to the kernel unchecked, whatever they hold (an end
    /// below its start, an empty list): for testing the kernel's own checks.
    public init(unchecked pairs: [(start: UInt, end: UInt)]) {
        self.pairs = pairs
    }

    private init(checkedPairs pairs: [(start: UInt, end: UInt)]) throws(SegmentError) {
        guard !pairs.isEmpty else { throw .noSegments }
        guard pairs.count <= Self.maximumCount else {
            throw .tooManySegments(count: pairs.count, limit: Self.maximumCount)
        }
        self.pairs = pairs
    }

    /// Parses a specification such as `0,4-6,20-21`: pages and inclusive
    /// ranges of pages separated by commas, newlines or spaces.
    ///
    /// - Throws: ``SegmentError/unreadable(index:text:)`` for an item that
    ///   is neither `N` nor `N-M`, and the errors of ``init(pairs:)``.
    public init(parsing specification: String) throws(SegmentError) {
        let items = specification.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " || $0 == "\t" })
        var pairs: [(start: Int, end: Int)] = []
        for (index, item) in items.enumerated() {
            let parts = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let start = Int(parts[0]), let end = parts.count == 2 ? Int(parts[1]) : start else {
                throw .unreadable(index: index, text: String(item))
            }
            pairs.append((start, end))
        }
        try self.init(pairs: pairs)
    }

    /// The segments as page ranges (for a list made unchecked, a pair whose
    /// end is below its start becomes the single page at its start).
    public var ranges: [ClosedRange<Int>] {
        pairs.map { Int($0.start)...Int(Swift.max($0.start, $0.end)) }
    }

    /// The union of the segments, sorted and merged: the pages the overlay
    /// file serves.
    public var merged: [ClosedRange<Int>] {
        var result: [ClosedRange<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...Swift.max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// The position of the first segment (0).
    public var startIndex: Int { pairs.startIndex }
    /// The position past the last segment.
    public var endIndex: Int { pairs.endIndex }
    /// Segment `position` as a page range (see ``ranges`` for unchecked pairs).
    public subscript(position: Int) -> ClosedRange<Int> {
        Int(pairs[position].start)...Int(Swift.max(pairs[position].start, pairs[position].end))
    }

    /// Whether both lists hold the same pairs in the same order.
    public static func == (lhs: SegmentList, rhs: SegmentList) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.start == $1.start && $0.end == $1.end }
    }
}

extension ClosedRange where Bound == Int {
    /// The pages of the page-aligned byte range `bytes`: `0..<8192` is pages
    /// `0...1` with 4 KiB pages.
    ///
    /// - Throws: ``SegmentError/unalignedByteOffset(_:pageSize:)`` when
    ///   either bound is not a multiple of `pageSize`, and
    ///   ``SegmentError/emptyByteRange(_:)`` when the range is empty.
    public init(pagesOfBytes bytes: Range<Int>, pageSize: Int = MemoryPage.size) throws(SegmentError) {
        for offset in [bytes.lowerBound, bytes.upperBound] where offset % pageSize != 0 {
            throw .unalignedByteOffset(offset, pageSize: pageSize)
        }
        guard !bytes.isEmpty else { throw .emptyByteRange(bytes) }
        self = (bytes.lowerBound / pageSize)...(bytes.upperBound / pageSize - 1)
    }
}
