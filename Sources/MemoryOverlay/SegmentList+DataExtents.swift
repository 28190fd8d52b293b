// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

extension SegmentList {
    /// The pages of the file open at `file` that hold data, found with
    /// `lseek(SEEK_DATA)` and `lseek(SEEK_HOLE)` exactly as the module
    /// finds a ``Layer/Pages/dataExtents`` layer's: a page that is partly
    /// data counts as data, and a filesystem that cannot report holes
    /// reports all of the file as data. Extents that share a page are
    /// merged, so the list is sorted and its ranges neither overlap nor
    /// touch.
    ///
    /// The list is empty when the file holds no data (a file of holes):
    /// such a layer of a chain serves no page, while a v1 request refuses
    /// an empty list. The descriptor's file position is put back.
    ///
    /// - Throws: the `Errno` of `lseek` (`ESPIPE` for a pipe, `EINVAL` for
    ///   a file that cannot seek data), or `E2BIG` for more extents than
    ///   one layer may serve (``SegmentList/maximumCount``), as the module
    ///   says.
    public init(dataExtentsOf file: FileDescriptor) throws(Errno) {
        let descriptor = file.rawValue
        let saved = lseek(descriptor, 0, SEEK_CUR)
        guard saved >= 0 else { throw .current }
        defer { lseek(descriptor, saved, SEEK_SET) }
        let pageSize = off_t(MemoryPage.size)
        var ranges: [ClosedRange<Int>] = []
        var extents = 0
        var position: off_t = 0
        while true {
            let data = lseek(descriptor, position, Self.seekData)
            if data < 0 {
                if errno == ENXIO { break }  // no data at or after `position`
                throw .current
            }
            let hole = lseek(descriptor, data, Self.seekHole)
            guard hole >= 0 else { throw .current }
            guard hole > data else { break }
            extents += 1
            guard extents <= Self.maximumCount else { throw .argListTooLong }
            let first = Int(data / pageSize)
            let last = Int((hole - 1) / pageSize)
            if let previous = ranges.last, first <= previous.upperBound + 1 {
                ranges[ranges.count - 1] = previous.lowerBound...Swift.max(previous.upperBound, last)
            } else {
                ranges.append(first...last)
            }
            position = hole
        }
        self.init(trusted: ranges)
    }

    /// `SEEK_DATA` and `SEEK_HOLE` (Linux's values: Glibc defines them only
    /// with `_GNU_SOURCE`).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
}
