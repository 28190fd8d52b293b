// SPDX-License-Identifier: GPL-2.0-or-later

/// The calling process's address space: its mappings, read under its mmap
/// lock, and the one way to replace one.
enum CurrentAddressSpace {
    /// Runs `body` with the mmap lock held for reading. The guard it gets is
    /// the only way to look at a mapping, and cannot outlive the lock.
    static func withMappingsLocked<Result: ~Copyable, Failure: Error>(
        _ body: (borrowing MappingsReadGuard) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        bs_mmap_read_lock()
        defer { bs_mmap_read_unlock() }
        let held = MappingsReadGuard()
        return try body(held)
    }

    /// Maps the file pages `pages` of the mapping `range` describes (those
    /// it maps) for reading, as MADV_POPULATE_READ does: page cache pages
    /// read-only, never a copy a write fault would make. Takes the mmap
    /// lock itself; pages that cannot be mapped are skipped.
    static func populateForReading(_ range: MappingRange, pages: ClosedRange<UInt64>) {
        let pageCount = (range.end - range.start) >> pageShift
        guard pages.upperBound >= range.pageOffset, pages.lowerBound < range.pageOffset + pageCount else { return }
        let first = Swift.max(pages.lowerBound, range.pageOffset) - range.pageOffset
        let last = Swift.min(pages.upperBound, range.pageOffset + pageCount - 1) - range.pageOffset
        bs_populate_read(range.start + first << pageShift, range.start + (last + 1) << pageShift)
    }

    /// Maps `file` over `range` privately, with the range's protection, lock
    /// and reservation flags and its file offset: `MAP_FIXED` replaces what
    /// is mapped there in one step (vm_mmap takes the mmap lock itself, so
    /// call this without it).
    static func mapPrivately(_ file: borrowing KernelFile, over range: MappingRange) throws(OverlayError) {
        // The byte offset (pageOffset << PAGE_SHIFT) must fit in a word.
        guard range.pageOffset <= LayerSegment.maxPage else { throw .kernel(errno: EOVERFLOW) }
        var protection: Int32 = PROT_NONE
        if range.flags.contains(.read) { protection |= PROT_READ }
        if range.flags.contains(.write) { protection |= PROT_WRITE }
        if range.flags.contains(.execute) { protection |= PROT_EXEC }
        var mapFlags: Int32 = 0
        if range.flags.contains(.locked) { mapFlags |= MAP_LOCKED }
        if range.flags.contains(.noReserve) { mapFlags |= MAP_NORESERVE }
        let result = bs_vm_mmap_private_fixed(file.unsafeKernelPointer, range.start, range.end - range.start,
                                              UInt64(protection), UInt64(mapFlags), range.pageOffset)
        guard result == 0 else { throw .kernel(errno: Int32(truncatingIfNeeded: -result)) }
    }

    /// The address space as a key for per-process locks (never shown).
    static var key: UInt64 { bs_current_address_space() }
}

/// Proof that the calling process's mmap lock is held for reading: it exists
/// only inside `CurrentAddressSpace.withMappingsLocked`.
struct MappingsReadGuard: ~Copyable {
    fileprivate init() {}

    /// Calls `body` with the mapping that contains `address`; nil, without
    /// calling it, when no mapping does. The mapping is borrowed: its file
    /// can be retained, not kept.
    func withMapping<Result: ~Copyable, Failure: Error>(
        containing address: UInt64, _ body: (borrowing ProcessMapping) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        var info = bs_vma_info()
        guard bs_vma_describe(address, &info) else { return nil }
        return try body(ProcessMapping(info))
    }
}

/// A mapping (VMA) of the calling process, seen under its mmap lock.
struct ProcessMapping: ~Copyable {
    let range: MappingRange
    // SAFETY: the VMA's file, valid while the mmap lock is held, which it is
    // for as long as a borrowed ProcessMapping exists (see withMapping).
    private let file: OpaquePointer?

    fileprivate init(_ info: bs_vma_info) {
        range = MappingRange(start: info.start, end: info.end, pageOffset: info.pgoff,
                             flags: MappingRange.Flags(rawValue: info.flags))
        file = info.file
    }

    /// Whether the mapping maps a file.
    var hasFile: Bool { file != nil }

    /// The mapped file's attributes (nil for an anonymous mapping).
    var fileInfo: FileInfo? { file.map { FileInfo(of: $0) } }

    /// A reference of its own to the mapped file, to keep beyond the lock.
    func retainedFile() -> KernelFile? {
        guard let file else { return nil }
        return KernelFile(adopting: bs_file_get(file))
    }
}

/// Where a mapping lies and how it is mapped: plain values, kept after the
/// mmap lock is dropped (to replace the mapping).
struct MappingRange {
    struct Flags: OptionSet {
        let rawValue: UInt32
        static let read = Flags(rawValue: UInt32(BS_VMA_READ.rawValue))
        static let write = Flags(rawValue: UInt32(BS_VMA_WRITE.rawValue))
        static let execute = Flags(rawValue: UInt32(BS_VMA_EXEC.rawValue))
        static let shared = Flags(rawValue: UInt32(BS_VMA_MAYSHARE.rawValue))
        static let locked = Flags(rawValue: UInt32(BS_VMA_LOCKED.rawValue))
        static let noReserve = Flags(rawValue: UInt32(BS_VMA_NORESERVE.rawValue))
        /// The mapping has an anon_vma: private copies of its pages exist.
        static let privatePages = Flags(rawValue: UInt32(BS_VMA_PRIVATE_PAGES.rawValue))
        /// PFN, I/O, mixed, hugetlb or DAX: no page cache to overlay.
        static let special = Flags(rawValue: UInt32(BS_VMA_SPECIAL.rawValue))
    }

    let start: UInt64
    let end: UInt64
    let pageOffset: UInt64
    let flags: Flags
}

/// The calling process.
enum CurrentProcess {
    /// The owner token of the overlays this process creates.
    static var owner: OwnerToken {
        var token = OwnerToken(processID: 0, startTime: 0)
        bs_current_process(&token.processID, &token.startTime)
        return token
    }
}

extension MappingsReadGuard {
    /// Calls `body` with the page mapped at `address`, if one is now (it is
    /// not faulted in); nil when none is.
    func withPresentPage<Result>(at address: UInt64, _ body: (borrowing PresentPage) -> Result) -> Result? {
        guard let page = bs_user_page_present(address) else { return nil }
        return body(PresentPage(page: page))
    }
}

extension CurrentAddressSpace {
    /// Whether any private page of the process is swapped out (then a page
    /// of a mapping may exist that no page table shows).
    static var hasSwappedPages: Bool { bs_address_space_has_swapped_pages() }
}

/// A page mapped in the calling process, referenced (dropped on deinit).
struct PresentPage: ~Copyable {
    private let page: OpaquePointer

    fileprivate init(page: OpaquePointer) { self.page = page }

    deinit { bs_page_put(page) }

    /// A private (anonymous) page: a copy made by a write or an overlay's
    /// own layer, not a page of a file's page cache.
    var isAnonymous: Bool { bs_page_anonymous(page) }

    /// Whether it holds the bytes of page `index` of `file`.
    func isSame(asPage index: UInt64, of file: borrowing KernelFile) -> Bool {
        bs_page_same_as_file_page(page, file.unsafeKernelPointer, index)
    }

    /// Whether it holds the bytes of page `index` of `pages`.
    func isSame(asPage index: UInt64, in pages: PageCacheMapping) -> Bool {
        bs_page_same_as_cache_page(page, pages.unsafeKernelPointer, index)
    }
}
