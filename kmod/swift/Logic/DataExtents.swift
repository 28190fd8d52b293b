// SPDX-License-Identifier: GPL-2.0-or-later

/// Where a file's data lies, found the way SEEK_DATA and SEEK_HOLE answer.
protocol DataExtentSource: ~Copyable {
    /// The first byte offset at or after `offset` that starts data, or nil
    /// when no data follows.
    func nextData(from offset: Int64) throws(OverlayError) -> Int64?
    /// The first byte offset at or after `offset` that starts a hole (the
    /// file's end counts as one).
    func nextHole(from offset: Int64) throws(OverlayError) -> Int64
}

extension SegmentTable {
    /// The pages of a file that hold data, a page that is partly data
    /// counting as data; an empty table when it holds none. A filesystem
    /// that cannot report holes reports all of the file as data. More
    /// extents than a request may carry segments is E2BIG.
    static func dataExtents<Source: DataExtentSource & ~Copyable>(
        of source: borrowing Source
    ) throws(OverlayError) -> SegmentTable {
        var extents = try PlatformBuffer<PageRange>(capacity: 64, chargedToCaller: true)
        var count = 0
        var position: Int64 = 0
        while let data = try source.nextData(from: position) {
            let hole = try source.nextHole(from: data)
            guard hole > data else { break }
            guard count < SegmentLimits.maxSegments else { throw .tooManySegments }
            if count == extents.capacity {
                let grown = try PlatformBuffer<PageRange>(capacity: 2 * count, chargedToCaller: true)
                grown.base.update(from: extents.base, count: count)
                extents = grown
            }
            extents.base[count] = PageRange(first: UInt64(data) >> pageShift, last: UInt64(hole - 1) >> pageShift)
            count += 1
            position = hole
        }
        guard count > 0 else { return try SegmentTable() }
        return try SegmentTable(request: extents, requested: count, layer: 1)
    }
}

/// log2 of the page size (x86-64; the C glue asserts it).
let pageShift: UInt64 = 12

/// The pages a file of `bytes` bytes covers, its last one partly (0 when
/// it is empty).
func pageCount(ofFileBytes bytes: Int64) -> UInt64 {
    (UInt64(Swift.max(bytes, 0)) + (1 << pageShift) - 1) >> pageShift
}
