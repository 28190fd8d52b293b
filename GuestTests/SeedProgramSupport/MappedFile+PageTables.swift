// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

extension MappedFile {
    /// Unmaps every page from the page tables (`MADV_DONTNEED`) while the
    /// mapping stays: the next touch of each page faults again, served from
    /// the page cache, which keeps the file's (or the overlay's) pages. This
    /// is how a benchmark measures faults on cached pages. Private copies
    /// made by writes are discarded.
    ///
    /// - Throws: the `Errno` of `madvise`.
    public func dropPageTables() throws(Errno) {
        guard madvise(address, length, MADV_DONTNEED) == 0 else { throw Errno(rawValue: errno) }
    }
}
