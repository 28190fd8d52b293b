// SPDX-License-Identifier: GPL-2.0-or-later

/// The attributes of a VMA of the calling process that the create request
/// decides on (from `struct bs_vma_info`).
struct ProcessMapping {
    struct Flags: OptionSet {
        let rawValue: UInt32
        static let read = Flags(rawValue: UInt32(BS_VMA_READ.rawValue))
        static let write = Flags(rawValue: UInt32(BS_VMA_WRITE.rawValue))
        static let execute = Flags(rawValue: UInt32(BS_VMA_EXEC.rawValue))
        static let shared = Flags(rawValue: UInt32(BS_VMA_MAYSHARE.rawValue))
        static let locked = Flags(rawValue: UInt32(BS_VMA_LOCKED.rawValue))
        static let noReserve = Flags(rawValue: UInt32(BS_VMA_NORESERVE.rawValue))
        static let privatePages = Flags(rawValue: UInt32(BS_VMA_PRIVATE_PAGES.rawValue))
        static let special = Flags(rawValue: UInt32(BS_VMA_SPECIAL.rawValue))
    }

    let start: UInt64
    let end: UInt64
    let pageOffset: UInt64
    let flags: Flags
    /// Valid only while the mmap lock is held; take a `LayerFile` to keep it.
    let file: OpaquePointer?

    var length: UInt64 { end - start }

    /// The mapping that contains `address`, if any. Call with the mmap lock
    /// held (inside `withLock`).
    static func containing(_ address: UInt64) -> ProcessMapping? {
        var info = bs_vma_info()
        guard bs_vma_describe(address, &info) else { return nil }
        return ProcessMapping(start: info.start, end: info.end, pageOffset: info.pgoff,
                              flags: Flags(rawValue: info.flags), file: info.file)
    }

    /// Runs `body` with the calling process's mmap lock held for reading.
    static func withLock<Result: ~Copyable>(
        _ body: () throws(OverlayError) -> Result
    ) throws(OverlayError) -> Result {
        bs_mmap_read_lock()
        defer { bs_mmap_read_unlock() }
        return try body()
    }

    /// Maps `file` over this mapping's range, with its protection, lock
    /// and reservation flags and its page offset, privately: MAP_FIXED
    /// replaces what is mapped there in one step.
    func replace(with file: OpaquePointer) throws(OverlayError) {
        // The byte offset (pageOffset << PAGE_SHIFT) must fit in a word.
        guard pageOffset <= LayerSegment.maxPage else { throw .kernel(errno: EOVERFLOW) }
        var protection: Int32 = PROT_NONE
        if flags.contains(.read) { protection |= PROT_READ }
        if flags.contains(.write) { protection |= PROT_WRITE }
        if flags.contains(.execute) { protection |= PROT_EXEC }
        var mapFlags: Int32 = 0
        if flags.contains(.locked) { mapFlags |= MAP_LOCKED }
        if flags.contains(.noReserve) { mapFlags |= MAP_NORESERVE }
        let result = bs_vm_mmap_private_fixed(file, start, length, UInt64(protection),
                                              UInt64(mapFlags), pageOffset)
        guard result == 0 else { throw .kernel(errno: Int32(truncatingIfNeeded: -result)) }
    }
}

/// The calling process.
enum CurrentProcess {
    /// The owner token of overlays this process creates.
    static var owner: OwnerToken {
        var token = OwnerToken(processID: 0, startTime: 0)
        bs_current_process(&token.processID, &token.startTime)
        return token
    }
}
