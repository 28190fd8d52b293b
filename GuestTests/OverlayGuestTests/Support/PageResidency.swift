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

    /// One page table entry as pagemap(5) reports it (the library's reader).
    typealias Entry = PageMap.Entry

    /// The page table entries of `pages` pages from `address` in process
    /// `pid` (the caller's own by default).
    static func entries(of address: UnsafeRawPointer, pages: Int, pid: pid_t? = nil) throws -> [Entry] {
        do {
            return try PageMap.entries(process: pid, address: UInt(bitPattern: address), pages: pages)
        } catch {
            throw TestFailure("read \(pid.map { "/proc/\($0)/pagemap" } ?? "/proc/self/pagemap"): \(error)")
        }
    }

    /// Minor faults of this process so far.
    static func minorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }

    /// Major faults (faults that read) of this process so far.
    static func majorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_majflt
    }
}
