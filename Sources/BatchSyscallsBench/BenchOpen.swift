// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage

/// Opening what the setups open, each failure a ``BenchError`` that names
/// the call and the file: the device, data files, private mappings.
enum BenchOpen {
    /// /dev/batch_syscalls (unavailable when it does not open).
    static func device() throws(BenchError) -> OverlayDevice {
        do {
            return try OverlayDevice()
        } catch {
            throw .unavailable("cannot open \(OverlayDevice.defaultPath): \(error)")
        }
    }

    /// The file at `path`, read-only.
    static func readOnly(_ path: FilePath) throws(BenchError) -> FileDescriptor {
        do {
            return try Errno.rethrowing { try FileDescriptor.open(path, .readOnly, options: .closeOnExec) }
        } catch {
            throw .call("open \(path)", error)
        }
    }

    /// A private mapping of the first `pages` pages of the file at `path`.
    static func map(_ path: FilePath, protection: MappedFile.Protection, pages: Int) throws(BenchError) -> MappedFile {
        do {
            return try MappedFile(path: path, protection: protection, pages: pages)
        } catch {
            throw .call("mmap of \(path)", error)
        }
    }

    /// Each of `diffs` diffs' runs (`runs(k)`, k from 1) as a request's
    /// segment list.
    static func segmentLists(diffs: Int, runs: (Int) -> [ClosedRange<Int>]) throws(BenchError) -> [SegmentList] {
        var lists: [SegmentList] = []
        for k in stride(from: 1, through: diffs, by: 1) {
            do {
                lists.append(try SegmentList(runs(k).lazy.map { $0 }))
            } catch {
                throw .failed("segments of diff \(k): \(error)")
            }
        }
        return lists
    }
}
