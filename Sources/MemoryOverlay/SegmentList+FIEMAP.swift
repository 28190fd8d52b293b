// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

extension SegmentList {
    /// The pages of the file open at `file` that hold written data, found
    /// with the `FS_IOC_FIEMAP` ioctl (ext4, XFS, btrfs, ...): a few calls
    /// for thousands of extents, where `lseek(SEEK_DATA)`/`SEEK_HOLE` take
    /// two calls per extent. Dirty data is written back first
    /// (`FIEMAP_FLAG_SYNC`), so delayed allocations are reported where they
    /// land; unwritten (preallocated) extents count as holes, as a layer's
    /// holes do: they read as zeros but hold nothing of the snapshot. A page
    /// that is partly data counts as data; extents that share a page are
    /// merged, so the list is sorted and its ranges neither overlap nor
    /// touch. Empty when the file holds no written data.
    ///
    /// - Throws: `EOPNOTSUPP` (or `ENOTTY`) where the filesystem has no
    ///   FIEMAP (tmpfs, FUSE, NFS: ``init(dataExtentsOf:)`` then), the
    ///   ioctl's other errors, or `E2BIG` for more extents than one layer
    ///   may serve (``SegmentList/maximumCount``).
    public init(writtenExtentsOf file: FileDescriptor) throws(Errno) {
        let batch = 512
        let headerSize = MemoryLayout<fiemap>.size
        let extentSize = MemoryLayout<fiemap_extent>.size
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: headerSize + batch * extentSize,
                                                      alignment: MemoryLayout<fiemap>.alignment)
        defer { buffer.deallocate() }
        var ranges: [ClosedRange<Int>] = []
        var extents = 0
        var start: UInt64 = 0
        var flags = UInt32(FIEMAP_FLAG_SYNC)
        scan: while true {
            let header = buffer.bindMemory(to: fiemap.self, capacity: 1)
            header.pointee = fiemap()
            header.pointee.fm_start = start
            header.pointee.fm_length = UInt64.max - start
            header.pointee.fm_flags = flags
            header.pointee.fm_extent_count = UInt32(batch)
            guard batch_syscalls_ioctl(file.rawValue, batch_syscalls_fiemap_cmd, buffer) == 0 else { throw .current }
            flags = 0  // written back once is enough
            let mapped = Int(header.pointee.fm_mapped_extents)
            if mapped == 0 { break }
            let list = (buffer + headerSize).bindMemory(to: fiemap_extent.self, capacity: mapped)
            for index in 0..<mapped {
                let extent = list[index]
                let end = extent.fe_logical + extent.fe_length
                start = Swift.max(start, end)
                let last = extent.fe_flags & UInt32(FIEMAP_EXTENT_LAST) != 0
                if extent.fe_flags & UInt32(FIEMAP_EXTENT_UNWRITTEN) == 0, extent.fe_length > 0 {
                    extents += 1
                    guard extents <= Self.maximumCount else { throw .argListTooLong }
                    Self.appendExtent(bytes: extent.fe_logical..<end, to: &ranges)
                }
                if last { break scan }
            }
            if mapped < batch { break }
        }
        self.init(trusted: ranges)
    }
}
