// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

extension SegmentList {
    /// The pages of the file open at `file` that hold data, found exactly
    /// as the module finds a ``Layer/Pages/dataExtents`` layer's: by the
    /// filesystem's extent map (`FIEMAP`, after the file's dirty pages are
    /// written back) where it keeps one, else with `lseek(SEEK_DATA)` and
    /// `lseek(SEEK_HOLE)`. A page that is partly data counts as data; a
    /// preallocated extent never written (`FIEMAP_EXTENT_UNWRITTEN`) is a
    /// hole, however its pages are cached; a filesystem that cannot report
    /// holes reports all of the file as data. Extents that share or touch
    /// a page are merged, so the list is sorted and its ranges neither
    /// overlap nor touch.
    ///
    /// The list is empty when the file holds no data (a file of holes):
    /// such a layer of a chain serves no page, while a v1 request refuses
    /// an empty list. The descriptor's file position is kept.
    ///
    /// - Throws: the `Errno` of `lseek` (`ESPIPE` for a pipe, `EINVAL` for
    ///   a file that cannot seek data) or of `FIEMAP`, or `E2BIG` for more
    ///   ranges than one layer may serve (``SegmentList/maximumCount``), as
    ///   the module says.
    public init(dataExtentsOf file: FileDescriptor) throws(Errno) {
        var ranges = DataRanges()
        if try !ranges.collectMapped(file) {
            ranges = DataRanges()
            try ranges.collectSought(file)
        }
        self.init(trusted: ranges.ranges)
    }
}

/// The page ranges of a file's data, in file order, touching ones merged.
private struct DataRanges {
    private(set) var ranges: [ClosedRange<Int>] = []

    /// Adds the pages that bytes `start..<end` (not empty, after what came
    /// before) lie in.
    mutating func append(bytes start: UInt64, _ end: UInt64) throws(Errno) {
        let pageSize = UInt64(MemoryPage.size)
        let first = Int(start / pageSize)
        let last = Int((end - 1) / pageSize)
        if let previous = ranges.last, first <= previous.upperBound + 1 {
            ranges[ranges.count - 1] = previous.lowerBound...Swift.max(previous.upperBound, last)
            return
        }
        guard ranges.count < SegmentList.maximumCount else { throw .argListTooLong }
        ranges.append(first...last)
    }

    /// The data by `FIEMAP`, written extents before the file's end only:
    /// false when the filesystem keeps no extent map (or reports one that
    /// goes backwards); the caller then starts over.
    mutating func collectMapped(_ file: FileDescriptor) throws(Errno) -> Bool {
        var status = stat()
        guard fstat(file.rawValue, &status) == 0 else { throw .current }
        guard status.st_mode & S_IFMT == S_IFREG else { return false }
        let end = UInt64(Swift.max(status.st_size, 0))
        let header = MemoryLayout<fiemap>.size
        let stride = MemoryLayout<fiemap_extent>.stride
        let batch = 512
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: header + batch * stride,
                                                      alignment: MemoryLayout<fiemap>.alignment)
        defer { buffer.deallocate() }
        var position: UInt64 = 0
        while position < end {
            let request = buffer.bindMemory(to: fiemap.self, capacity: 1)
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: header)
            request.pointee.fm_start = position
            request.pointee.fm_length = UInt64.max
            // Written back once, before the first call: later ones find
            // nothing dirty.
            request.pointee.fm_flags = position == 0 ? UInt32(FIEMAP_FLAG_SYNC) : 0
            request.pointee.fm_extent_count = UInt32(batch)
            if batch_syscalls_ioctl(file.rawValue, batch_syscalls_fiemap_cmd, buffer) != 0 {
                let error = Errno.current
                if error == .notSupported || error == .inappropriateIOCTLForDevice { return false }
                throw error
            }
            let count = Int(request.pointee.fm_mapped_extents)
            guard count > 0 else { break }
            var last = false
            for index in 0..<count {
                let extent = (buffer + header + index * stride).load(as: fiemap_extent.self)
                let (extentEnd, overflow) = extent.fe_logical.addingReportingOverflow(extent.fe_length)
                guard !overflow, extentEnd > position else { return false }
                position = extentEnd
                let dataEnd = Swift.min(extentEnd, end)
                if extent.fe_flags & UInt32(FIEMAP_EXTENT_UNWRITTEN) == 0 && extent.fe_logical < dataEnd {
                    try append(bytes: extent.fe_logical, dataEnd)
                }
                last = extent.fe_flags & UInt32(FIEMAP_EXTENT_LAST) != 0
            }
            if last { break }
        }
        return true
    }

    /// The data by `SEEK_DATA` and `SEEK_HOLE`; the file position is kept.
    mutating func collectSought(_ file: FileDescriptor) throws(Errno) {
        let descriptor = file.rawValue
        let saved = lseek(descriptor, 0, SEEK_CUR)
        guard saved >= 0 else { throw .current }
        defer { lseek(descriptor, saved, SEEK_SET) }
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
            try append(bytes: UInt64(data), UInt64(hole))
            position = hole
        }
    }

    /// `SEEK_DATA` and `SEEK_HOLE` (Linux's values: Glibc defines them only
    /// with `_GNU_SOURCE`).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
}
