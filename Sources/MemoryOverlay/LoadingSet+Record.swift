// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// Recording a loading set: the pages a process has touched in a mapping,
/// as its page tables show them now.
extension LoadingSet {
    /// The pages of a mapping that process `process` has touched: those
    /// its page tables map (`/proc/PID/pagemap` bit 63) or hold swapped out
    /// (bit 62), named by file page (`firstFilePage` plus the page's index
    /// in the range).
    ///
    /// Record at the end of a run what a restore of the same snapshot will
    /// touch first. A read fault may map a few neighbouring pages already
    /// in the page cache too (the kernel's fault-around, 16 pages by
    /// default), and those are recorded as touched; pages the process
    /// unmapped (`MADV_DONTNEED`) or the kernel reclaimed since are not.
    ///
    /// - Parameters:
    ///   - process: the process (nil: this one). Reading another process's
    ///     pagemap needs what reading its memory needs (same user, or
    ///     `CAP_SYS_PTRACE`).
    ///   - address: the first byte of the range, page-aligned.
    ///   - length: the range's length in bytes, a whole number of pages.
    ///   - firstFilePage: the file page `address` maps.
    /// - Throws: `EINVAL` for an unaligned address or length, or a negative
    ///   first page; `E2BIG` when the touched pages make more ranges than
    ///   ``SegmentList/maximumCount``; the `Errno` of reading the pagemap.
    public static func recordResident(process: pid_t? = nil, address: UInt, length: Int,
                                      firstFilePage: Int) throws(Errno) -> LoadingSet {
        let pageSize = MemoryPage.size
        guard address % UInt(pageSize) == 0, length >= 0, length % pageSize == 0, firstFilePage >= 0,
              firstFilePage <= maximumPage - length / pageSize
        else { throw .invalidArgument }
        var ranges: [ClosedRange<Int>] = []
        var runStart: Int? = nil
        var index = 0
        try PageMap.forEachEntry(process: process, address: address, pages: length / pageSize) { entry in
            if entry.touched {
                if runStart == nil { runStart = firstFilePage + index }
            } else if let start = runStart {
                ranges.append(start...(firstFilePage + index - 1))
                runStart = nil
            }
            index += 1
        }
        if let start = runStart { ranges.append(start...(firstFilePage + index - 1)) }
        guard ranges.count <= SegmentList.maximumCount else { throw .argListTooLong }
        return LoadingSet(canonical: ranges)
    }

    /// The pages of `mapping`, in this process, that it has touched, as
    /// ``recordResident(process:address:length:firstFilePage:)`` finds them.
    ///
    /// - Throws: as ``recordResident(process:address:length:firstFilePage:)``.
    public static func recordResident(of mapping: MappedFile) throws(Errno) -> LoadingSet {
        try recordResident(address: UInt(bitPattern: mapping.address), length: mapping.length,
                           firstFilePage: mapping.firstFilePage)
    }

    /// The pages of `mapping` (as ``TargetProcess/mappings()`` lists it)
    /// that `process` has touched, as
    /// ``recordResident(process:address:length:firstFilePage:)`` finds them.
    ///
    /// - Throws: as ``recordResident(process:address:length:firstFilePage:)``.
    public static func recordResident(in process: TargetProcess,
                                      mapping: TargetProcess.Mapping) throws(Errno) -> LoadingSet {
        let pageSize = UInt(MemoryPage.size)
        guard mapping.fileOffset % pageSize == 0 else { throw .invalidArgument }
        return try recordResident(process: process.processID, address: mapping.start,
                                  length: Int(mapping.end - mapping.start),
                                  firstFilePage: Int(mapping.fileOffset / pageSize))
    }
}
