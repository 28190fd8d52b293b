// SPDX-License-Identifier: GPL-2.0-or-later

/// One extent of a file as its filesystem's extent map (FIEMAP) reports it.
struct MappedExtent: Equatable {
    /// Its first byte in the file, and its length in bytes.
    var offset: UInt64
    var length: UInt64
    /// Preallocated and never written (`FIEMAP_EXTENT_UNWRITTEN`): it reads
    /// as zeros, and a layer serves no page there (a hole, for every way of
    /// finding the extents).
    var isUnwritten: Bool
    /// The filesystem's last extent of the file (`FIEMAP_EXTENT_LAST`).
    var isLast: Bool
}

/// Where a file's data lies: its filesystem's extent map where it keeps
/// one (one call answers hundreds of extents), else the way SEEK_DATA and
/// SEEK_HOLE answer (two calls an extent).
protocol DataExtentSource: ~Copyable {
    /// The file's size in bytes: no data lies at or past it.
    var byteSize: Int64 { get }
    /// The extents that end after byte `offset`, in file order, at most
    /// `buffer.count` of them, stored at the start of `buffer`: their count
    /// (0 when none follows), or nil when the file's filesystem keeps no
    /// extent map (then `nextData` and `nextHole` answer). A walk of the
    /// map starts from 0, where the file's dirty pages are written back
    /// first (a filesystem marks preallocated blocks written only then).
    func mappedExtents(from offset: UInt64,
                       into buffer: UnsafeMutableBufferPointer<MappedExtent>) throws(OverlayError) -> Int?
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
    /// separate runs of data than a request may carry segments is E2BIG.
    static func dataExtents<Source: DataExtentSource & ~Copyable>(
        of source: borrowing Source
    ) throws(OverlayError) -> SegmentTable {
        let fileEnd = UInt64(Swift.max(source.byteSize, 0))
        if let pages = try mappedDataPages(of: source, end: fileEnd) { return try pages.table() }
        var pages = try DataPages()
        var position: Int64 = 0
        while let data = try source.nextData(from: position) {
            let hole = try source.nextHole(from: data)
            guard hole > data else { break }
            try pages.append(bytes: UInt64(data)..<UInt64(hole))
            position = hole
        }
        return try pages.table()
    }

    /// The data pages by the file's extent map, written extents only and
    /// none at or past `end`; nil when it keeps none (or reports an extent
    /// that ends before the one before it).
    private static func mappedDataPages<Source: DataExtentSource & ~Copyable>(
        of source: borrowing Source, end: UInt64
    ) throws(OverlayError) -> DataPages? {
        let batch = try PlatformBuffer<MappedExtent>(capacity: mappedExtentsBatch, chargedToCaller: true)
        let extents = UnsafeMutableBufferPointer(start: batch.base, count: batch.capacity)
        var pages = try DataPages()
        var position: UInt64 = 0
        while position < end {
            guard let count = try source.mappedExtents(from: position, into: extents) else { return nil }
            guard count > 0 else { break }
            for extent in extents[0..<count] {
                let (extentEnd, overflow) = extent.offset.addingReportingOverflow(extent.length)
                // A filesystem's map goes forwards; one that does not is
                // not followed into a loop, and SEEK_DATA answers instead.
                guard !overflow, extentEnd > position else { return nil }
                position = extentEnd
                let dataEnd = Swift.min(extentEnd, end)
                if !extent.isUnwritten && extent.offset < dataEnd {
                    try pages.append(bytes: extent.offset..<dataEnd)
                }
            }
            if extents[count - 1].isLast { break }
        }
        return pages
    }

    /// Extents asked of the map at a time: 1,024 (56 KiB of the kernel's
    /// `struct fiemap_extent`).
    static let mappedExtentsBatch = 1024
}

/// The page ranges of a file's data, collected in file order: a range that
/// touches the previous one joins it (an extent map splits long data into
/// many extents, where SEEK_HOLE sees one run).
private struct DataPages: ~Copyable {
    private var ranges: PlatformBuffer<PageRange>
    private var count = 0

    init() throws(OverlayError) {
        ranges = try PlatformBuffer<PageRange>(capacity: 64, chargedToCaller: true)
    }

    /// Adds the pages that bytes `bytes` (not empty, after what came
    /// before) lie in.
    mutating func append(bytes: Range<UInt64>) throws(OverlayError) {
        let range = PageRange(first: bytes.lowerBound >> pageShift, last: (bytes.upperBound - 1) >> pageShift)
        if count > 0 && ranges.base[count - 1].touches(range) {
            ranges.base[count - 1].last = Swift.max(ranges.base[count - 1].last, range.last)
            return
        }
        guard count < SegmentLimits.maxSegments else { throw .tooManySegments }
        if count == ranges.capacity {
            let grown = try PlatformBuffer<PageRange>(capacity: 2 * count, chargedToCaller: true)
            grown.base.update(from: ranges.base, count: count)
            ranges = grown
        }
        ranges.base[count] = range
        count += 1
    }

    /// The table of the pages, served by layer 1 until the request lays it.
    consuming func table() throws(OverlayError) -> SegmentTable {
        guard count > 0 else { return try SegmentTable() }
        return try SegmentTable(request: ranges, requested: count, layer: 1)
    }
}

/// log2 of the page size (x86-64; the C glue asserts it).
let pageShift: UInt64 = 12

/// The pages a file of `bytes` bytes covers, its last one partly (0 when
/// it is empty).
func pageCount(ofFileBytes bytes: Int64) -> UInt64 {
    (UInt64(Swift.max(bytes, 0)) + (1 << pageShift) - 1) >> pageShift
}
