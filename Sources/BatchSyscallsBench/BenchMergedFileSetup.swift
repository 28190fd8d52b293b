// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscallsBench
import Glibc
import MemoryOverlay

/// Merged copies as a fleet keeps them: each restore writes its own merged
/// file, the base with its diff's dirty runs written over it, and maps it
/// private. The file is a memfd (shared memory, as a platform keeping
/// snapshot files in tmpfs has them): a file on the bench's disk would need
/// P times the view on a guest disk sized for the data files, and would cost
/// the same page cache plus the writeback. Its pages count in the page
/// cache (`Cached` includes shared memory), one copy of the whole view per
/// restore; the setup reads the base whole and writes every page.
enum BenchMergedFileSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let pages = input.layout.pages
        let length = pages * MemoryPage.size
        let descriptor = bench_memfd_create("bench-merged")
        guard descriptor >= 0 else { throw .call("memfd_create", .current) }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw .call("ftruncate of the merged file", .current) }
        // Written through a shared mapping: pread straight into the file's pages.
        let writer = try BenchFileMapping(descriptor, length: length, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED)
        try BenchFileReads.read(input.files.base, runs: CollectionOfOne(0...(pages - 1)), into: writer.address)
        try BenchFileReads.read(input.files.overlay, runs: input.runs, into: writer.address)
        let view = try BenchFileMapping(descriptor, length: length,
                                        protection: input.writable ? PROT_READ | PROT_WRITE : PROT_READ, flags: MAP_PRIVATE)
        return BenchRegion(address: view.address, pages: pages, owners: [view])
    }
}

/// A mapping of an open file, unmapped with its last reference.
final class BenchFileMapping {
    let address: UnsafeMutableRawPointer
    let length: Int

    /// - Throws: `BenchError.failed` with the errno of `mmap`.
    init(_ descriptor: CInt, length: Int, protection: CInt, flags: CInt) throws(BenchError) {
        self.length = length
        let result = mmap(nil, length, protection, flags, descriptor, 0)
        guard let result, result != MAP_FAILED else { throw .call("mmap of the merged file", .current) }
        address = result
    }

    deinit { munmap(address, length) }
}
