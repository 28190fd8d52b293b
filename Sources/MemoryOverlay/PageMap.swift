// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// A process's page table entries as `/proc/PID/pagemap` reports them
/// (pagemap(5)): one 64-bit word per virtual page.
///
/// `package`: the library records loading sets from it, and the tests look
/// at what a request mapped with it.
package enum PageMap {
    /// One page's entry.
    package struct Entry: Sendable, Equatable {
        /// The word as the kernel wrote it.
        package let raw: UInt64

        package init(raw: UInt64) { self.raw = raw }

        /// Bit 63: the page is mapped (present in RAM).
        package var present: Bool { raw >> 63 & 1 == 1 }
        /// Bit 62: the page is swapped out.
        package var swapped: Bool { raw >> 62 & 1 == 1 }
        /// Bit 61: a file page or shared anonymous page (not a private copy).
        package var isFileOrShared: Bool { raw >> 61 & 1 == 1 }
        /// The page frame number, bits 0-54 (0 without `CAP_SYS_ADMIN`).
        package var frame: UInt64 { raw & ((1 << 55) - 1) }
        /// Whether the process has touched the page: mapped, or swapped out.
        package var touched: Bool { present || swapped }
    }

    /// The entries of `pages` pages from the page-aligned `address` in
    /// process `process` (nil: this one), read in one pass.
    ///
    /// - Throws: the `Errno` of `open` or `pread` (`EACCES`/`EPERM`: the
    ///   caller may not read the process's pagemap; `ENOENT`: no such
    ///   process); `EIO` for a short read.
    package static func entries(process: pid_t? = nil, address: UInt, pages: Int) throws(Errno) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(pages)
        try forEachEntry(process: process, address: address, pages: pages) { entries.append($0) }
        return entries
    }

    /// Calls `body` with the entry of each of `pages` pages from the
    /// page-aligned `address`, in order, reading a chunk at a time.
    ///
    /// - Throws: as ``entries(process:address:pages:)``.
    package static func forEachEntry(process: pid_t? = nil, address: UInt, pages: Int,
                                     _ body: (Entry) -> Void) throws(Errno) {
        let path = FilePath(process.map { "/proc/\($0)/pagemap" } ?? "/proc/self/pagemap")
        let descriptor = try Errno.rethrowing { try FileDescriptor.open(path, .readOnly, options: .closeOnExec) }
        defer { try? descriptor.close() }
        let chunk = 1 << 15
        var words = [UInt64](repeating: 0, count: Swift.min(chunk, Swift.max(pages, 0)))
        var done = 0
        while done < pages {
            let count = Swift.min(chunk, pages - done)
            let offset = Int64((address / UInt(MemoryPage.size) + UInt(done)) * 8)
            let read = try Errno.rethrowing {
                try words.withUnsafeMutableBytes { buffer in
                    try descriptor.read(fromAbsoluteOffset: offset,
                                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(count * 8)]))
                }
            }
            guard read == count * 8 else { throw .ioError }
            for word in words[..<count] { body(Entry(raw: word)) }
            done += count
        }
    }
}
