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
}

/// A layer file's data extents come from its filesystem's extent map, or
/// from SEEK_DATA and SEEK_HOLE on it.
extension KernelFile: DataExtentSource {
    var byteSize: Int64 { info.size }

    func nextData(from offset: Int64) throws(OverlayError) -> Int64? {
        try seekData(from: offset)
    }

    func nextHole(from offset: Int64) throws(OverlayError) -> Int64 {
        // A hole always follows data (the end of the file is one).
        guard let hole = try seekHole(from: offset) else { throw .kernel(errno: ENXIO) }
        return hole
    }
}
