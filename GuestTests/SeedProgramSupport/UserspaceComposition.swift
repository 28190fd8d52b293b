// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// What the module replaces: composing the files in userspace, one
/// `mmap(MAP_FIXED | MAP_PRIVATE)` of the overlay file per segment over the
/// base mapping. Each segment splits the mapping, so the composition costs
/// up to two VMAs per segment (and runs into `vm.max_map_count`).
public enum UserspaceComposition {
    /// Maps, over `base`, the overlay file open at `overlay` at every page
    /// of `segments` (merged) that `base` covers, read-only and private, at
    /// the same file page offset.
    ///
    /// - Returns: the number of mmap calls made.
    /// - Throws: the `Errno` of the first mmap that failed (the pages
    ///   mapped before it stay).
    @discardableResult
    public static func compose(onto base: MappedFile, overlay: FileDescriptor,
                               segments: SegmentList) throws(Errno) -> Int {
        let pageSize = MemoryPage.size
        var calls = 0
        for range in segments.merged {
            let first = Swift.max(range.lowerBound, base.filePages.lowerBound)
            let last = Swift.min(range.upperBound, base.filePages.upperBound - 1)
            guard first <= last else { continue }
            let address = base.address + (first - base.firstFilePage) * pageSize
            let mapped = mmap(address, (last - first + 1) * pageSize, PROT_READ, MAP_PRIVATE | MAP_FIXED,
                              overlay.rawValue, off_t(first * pageSize))
            guard let mapped, mapped != MAP_FAILED else { throw Errno(rawValue: errno) }
            calls += 1
        }
        return calls
    }
}
