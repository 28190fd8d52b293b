// SPDX-License-Identifier: GPL-2.0-or-later

/// A page fault on an overlay's mapping (`struct vm_fault`), in progress: it
/// exists only during the ->fault or ->map_pages call that got it, with the
/// mmap lock or the VMA's lock held (map_pages: also under RCU).
struct PageFault: ~Copyable {
    // SAFETY: the kernel's vm_fault of the call in progress, valid until it
    // returns; a PageFault is only ever borrowed by the handlers it calls.
    private let fault: OpaquePointer

    init(unsafeKernelPointer fault: OpaquePointer) {
        self.fault = fault
    }

    /// The faulting address.
    var address: UInt64 { bs_fault_address(fault) }

    /// The faulting VMA: its addresses and its first page's file offset.
    var mapping: (start: UInt64, end: UInt64, pageOffset: UInt64) {
        var start: UInt64 = 0
        var end: UInt64 = 0
        var pageOffset: UInt64 = 0
        bs_fault_vma_span(fault, &start, &end, &pageOffset)
        return (start, end, pageOffset)
    }

    /// Whether a huge folio of the lower page cache could be mapped by a PMD
    /// here: no page table below the fault's PMD yet, and either the VMA
    /// lets huge pages in or this kernel's faults do not honour its refusal.
    var mayMapHugePage: Bool {
        let state = bs_fault_state(fault)
        guard state & UInt32(BS_FAULT_PMD_NONE) != 0 else { return false }
        let refused = state & UInt32(BS_FAULT_NO_HUGE_PAGES) != 0
            && state & UInt32(BS_FAULT_NO_HUGE_PAGES_HONOURED) != 0
        return !refused
    }

    /// Whether the VMA was advised MADV_RANDOM (VM_RAND_READ): a fault
    /// then reads its own page only, as filemap_fault does.
    var readsAtRandom: Bool { bs_fault_state(fault) & UInt32(BS_FAULT_RANDOM_READ) != 0 }

    /// The lower page cache's page at the fault (filemap_fault).
    func faultLower() -> FaultResult { FaultResult(bs_fault_lower(fault)) }

    /// Maps the lower page cache's pages `first...last` that are ready
    /// (filemap_map_pages; fault-around, under RCU).
    func mapLower(_ first: UInt64, _ last: UInt64) -> FaultResult {
        FaultResult(bs_fault_map_lower(fault, first, last))
    }

    /// Makes the page at `address` a private copy through the kernel's
    /// copy-on-write path (whose ->fault then calls `giveSource`).
    func copy(at address: UInt64) -> FaultResult { FaultResult(bs_fault_copy_at(fault, address)) }

    /// Gives a copy-on-write fault `page` as its source (its reference
    /// goes with it); `read`: this fault read it (a major fault).
    func give(_ page: consuming LayerPage, read: Bool) -> FaultResult {
        FaultResult(bs_fault_give_page(fault, page.handOverReference(), read))
    }

    /// Gives a copy-on-write fault its source: page `page` of `layer`.
    func giveSource(page: UInt64, of layer: borrowing KernelFile) -> FaultResult {
        FaultResult(bs_fault_source_page(fault, layer.unsafeKernelPointer, page))
    }
}

/// What a fault handler returns (`vm_fault_t`).
struct FaultResult {
    let raw: UInt32

    init(_ raw: UInt32) { self.raw = raw }

    static let none = FaultResult(0)
    /// The page is mapped already (nothing for the caller to map).
    static let noPage = FaultResult(UInt32(BS_VM_FAULT_NOPAGE))
    static let busError = FaultResult(UInt32(BS_VM_FAULT_SIGBUS))

    /// The fault is over: it gave up with its lock dropped (retry), or failed.
    var endsFault: Bool { raw & UInt32(BS_VM_FAULT_RETRY | BS_VM_FAULT_ERROR) != 0 }

    /// Both results (fault-around maps several runs).
    func combined(with other: FaultResult) -> FaultResult { FaultResult(raw | other.raw) }
}
