// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// Where a mapping's pages are: in the page cache of the file it maps
/// (`mincore`), and in a process's page tables (`/proc/PID/pagemap`).
enum PageResidency {
    /// The pages of `mapping` whose file page is in the page cache (of the
    /// file the mapping maps: for an overlay, the page cache it maps).
    static func cached(_ mapping: MappedFile) throws -> Set<Int> {
        var vector = [UInt8](repeating: 0, count: mapping.pageCount)
        try require(mincore(mapping.address, mapping.length, &vector) == 0, "mincore: \(Errno.current)")
        return Set(vector.indices.filter { vector[$0] & 1 == 1 }.map { mapping.firstFilePage + $0 })
    }

    /// One page table entry as pagemap(5) reports it.
    struct Entry {
        let raw: UInt64
        var present: Bool { raw >> 63 & 1 == 1 }
        /// The page frame (root only; 0 otherwise).
        var frame: UInt64 { raw & ((1 << 55) - 1) }
        /// Mapped once and anonymous (a private copy), as bit 56 and the
        /// file/shared bit 61 say.
        var isFileOrShared: Bool { raw >> 61 & 1 == 1 }
    }

    /// The page table entries of `pages` pages from `address` in process
    /// `pid` (the caller's own by default).
    static func entries(of address: UnsafeRawPointer, pages: Int, pid: pid_t? = nil) throws -> [Entry] {
        let path = pid.map { "/proc/\($0)/pagemap" } ?? "/proc/self/pagemap"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        var words = [UInt64](repeating: 0, count: pages)
        let offset = off_t(UInt(bitPattern: address) / UInt(pageSize) * 8)
        let read = words.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, offset) }
        try require(read == pages * 8, "pread \(path): \(read < 0 ? "\(Errno.current)" : "\(read) bytes")")
        return words.map { Entry(raw: $0) }
    }

    /// Minor faults of this process so far.
    static func minorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }
}
