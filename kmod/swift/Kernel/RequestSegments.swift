// SPDX-License-Identifier: GPL-2.0-or-later

extension SegmentTable {
    /// A request's `count` segments, copied from user memory at `user` and
    /// normalised (sorted, merged); layer 1 serves them until the request's
    /// layer is laid on a stack. Checks the count before it allocates.
    static func copied(from user: UserPointer, count: Int) throws(OverlayError) -> SegmentTable {
        try SegmentTable.checkRequested(count: count)
        let buffer = try PlatformBuffer<PageRange>(capacity: count, chargedToCaller: true)
        try user.read(into: buffer.base, byteCount: count * MemoryLayout<PageRange>.stride)
        return try SegmentTable(request: buffer, requested: count, layer: 1)
    }

    /// The pages of `file` that hold data (SEEK_DATA/SEEK_HOLE), a page that
    /// is partly data counting as data; an empty table when it holds none.
    /// A filesystem that cannot report holes reports all of the file as
    /// data. More extents than a request may carry segments is E2BIG.
    static func dataExtents(of file: OpaquePointer) throws(OverlayError) -> SegmentTable {
        var extents = try PlatformBuffer<PageRange>(capacity: 64, chargedToCaller: true)
        var count = 0
        var position: Int64 = 0
        while true {
            let data = bs_file_seek(file, position, Int32(BS_SEEK_DATA))
            if data == -Int64(ENXIO) { break }  // no data at or after `position`
            guard data >= 0 else { throw .kernel(errno: Int32(truncatingIfNeeded: -data)) }
            let hole = bs_file_seek(file, data, Int32(BS_SEEK_HOLE))
            guard hole >= 0 else { throw .kernel(errno: Int32(truncatingIfNeeded: -hole)) }
            guard hole > data else { break }
            guard count < SegmentLimits.maxSegments else { throw .tooManySegments }
            if count == extents.capacity {
                let grown = try PlatformBuffer<PageRange>(capacity: 2 * count, chargedToCaller: true)
                grown.base.update(from: extents.base, count: count)
                extents = grown
            }
            extents.base[count] = PageRange(first: UInt64(data) >> pageShift,
                                            last: UInt64(hole - 1) >> pageShift)
            count += 1
            position = hole
        }
        guard count > 0 else { return try SegmentTable() }
        return try SegmentTable(request: extents, requested: count, layer: 1)
    }
}

/// log2 of the page size (x86-64; module.c asserts it).
let pageShift: UInt64 = 12
