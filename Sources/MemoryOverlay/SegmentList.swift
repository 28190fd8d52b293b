// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls

/// The page ranges of one overlay request: inclusive ranges of file page
/// offsets whose pages the overlay file serves.
///
/// Segments may be unsorted and may overlap or touch; the module merges
/// them. A list made by ``init(_:)`` or ``init(parsing:)`` holds at least
/// one segment, no negative page and no more segments than the module
/// accepts; one made by ``init(dataExtentsOf:)`` may be empty (a file of
/// holes).
public struct SegmentList: Sendable, Equatable, RandomAccessCollection {
    /// The largest number of segments one request may carry
    /// (`MEM_OVERLAY_MAX_SEGMENTS`).
    public static let maximumCount = Int(BATCH_SYSCALLS_MAX_SEGMENTS)

    /// The segments, in the order they go to the kernel.
    public let ranges: [ClosedRange<Int>]

    /// Checked segments from page ranges.
    ///
    /// - Throws: ``SegmentError/noSegments``, ``SegmentError/negativePage(index:page:)``
    ///   or ``SegmentError/tooManySegments(count:limit:)``.
    public init(_ ranges: some Sequence<ClosedRange<Int>>) throws(SegmentError) {
        let ranges = Array(ranges)
        guard !ranges.isEmpty else { throw .noSegments }
        guard ranges.count <= Self.maximumCount else {
            throw .tooManySegments(count: ranges.count, limit: Self.maximumCount)
        }
        if let index = ranges.firstIndex(where: { $0.lowerBound < 0 }) {
            throw .negativePage(index: index, page: ranges[index].lowerBound)
        }
        self.ranges = ranges
    }

    /// Segments the package made itself and knows to be valid (data
    /// extents, generated layouts), unchecked.
    package init(trusted ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// Parses a specification such as `0,4-6,20-21`: pages and inclusive
    /// ranges of pages separated by commas, newlines or spaces.
    ///
    /// - Throws: ``SegmentError/unreadable(index:text:)`` for an item that
    ///   is neither `N` nor `N-M`, ``SegmentError/endBeforeStart(index:start:end:)``
    ///   for `N-M` with `M` below `N`, and the errors of ``init(_:)``.
    public init(parsing specification: String) throws(SegmentError) {
        let items = specification.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " || $0 == "\t" })
        var ranges: [ClosedRange<Int>] = []
        for (index, item) in items.enumerated() {
            let parts = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let start = Int(parts[0]), let end = parts.count == 2 ? Int(parts[1]) : start else {
                throw .unreadable(index: index, text: String(item))
            }
            guard end >= start else { throw .endBeforeStart(index: index, start: start, end: end) }
            ranges.append(start...end)
        }
        try self.init(ranges)
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

    /// Pages the list covers, counting a page covered twice once.
    public var pageCount: Int {
        merged.reduce(0) { $0 + $1.count }
    }

    /// The position of the first segment (0).
    public var startIndex: Int { ranges.startIndex }
    /// The position past the last segment.
    public var endIndex: Int { ranges.endIndex }
    /// Segment `position`.
    public subscript(position: Int) -> ClosedRange<Int> { ranges[position] }

    /// The segments in the ABI's layout.
    package var abiSegments: [mem_overlay_segment_req] {
        ranges.map { ABI.segment(start: UInt($0.lowerBound), end: UInt($0.upperBound)) }
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
