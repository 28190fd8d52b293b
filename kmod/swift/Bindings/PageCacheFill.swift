// SPDX-License-Identifier: GPL-2.0-or-later

/// A readahead request of an overlay's page cache (`struct
/// readahead_control`): its folios, locked and not yet uptodate, taken a
/// batch at a time. Folios left in the request are unlocked by the kernel.
struct ReadaheadRequest: ~Copyable {
    private let control: OpaquePointer

    init(unsafeKernelPointer control: OpaquePointer) {
        self.control = control
    }

    /// The most pages one batch takes (and one direct read reads).
    static let batchPages = Int(BS_FILL_BATCH_PAGES)

    /// Calls `body` with each batch of at most `batchPages` consecutive
    /// folios until the request has none left. `body` fills and unlocks them.
    func forEachBatch(_ body: (borrowing FolioBatch) -> Void) {
        // 512 bytes on the stack (below the stdlib's 1 KiB limit, so no heap).
        withUnsafeTemporaryAllocation(of: OpaquePointer?.self, capacity: Self.batchPages) { folios in
            var firstPage: UInt64 = 0
            while true {
                let count = bs_readahead_take(control, folios.baseAddress!, UInt32(folios.count), &firstPage)
                if count == 0 { return }
                body(FolioBatch(firstPage: firstPage, count: UInt64(count), folios: folios.baseAddress!))
            }
        }
    }
}

/// Locked folios of consecutive pages of an overlay's page cache, waiting to
/// be filled: page `firstPage + i` is folio `i`.
struct FolioBatch: ~Copyable {
    let firstPage: UInt64
    let count: UInt64
    // SAFETY: `count` folios taken from a readahead request, locked, each
    // referenced by the page cache, until filled (which unlocks them).
    fileprivate let folios: UnsafeMutablePointer<OpaquePointer?>

    fileprivate init(firstPage: UInt64, count: UInt64, folios: UnsafeMutablePointer<OpaquePointer?>) {
        self.firstPage = firstPage
        self.count = count
        self.folios = folios
    }

    /// The folios of pages `first ..< first + count` (inside the batch).
    fileprivate func folios(from first: UInt64) -> UnsafeMutablePointer<OpaquePointer?> {
        folios + Int(first - firstPage)
    }
}

/// One locked folio of an overlay's page cache that `read_folio` must fill.
struct LockedFolio: ~Copyable {
    let page: UInt64
    // SAFETY: locked and referenced by the page cache until filled.
    fileprivate let folio: OpaquePointer

    init(unsafeKernelPointer folio: OpaquePointer, page: UInt64) {
        self.folio = folio
        self.page = page
    }
}

extension KernelFile {
    /// Reads this layer's pages `first ..< first + count` with one direct
    /// I/O (no copy, nothing left in the layer's page cache) straight into
    /// the batch's folios of the same pages: the pages whose bit is set in
    /// `served` (bit i: page `first + i`), the others into a scratch page.
    /// On success those folios are uptodate and unlocked. False, with
    /// nothing changed, when direct I/O does not apply here (see
    /// bs_layer_read_direct): then copy them.
    func readDirectly(pages first: UInt64, count: UInt64, into batch: borrowing FolioBatch,
                      served: UInt64) -> Bool {
        bs_layer_read_direct(unsafeKernelPointer, first, UInt32(count), batch.folios(from: first), served)
    }

    /// Starts reading pages `first ..< first + count` into the layer's own
    /// page cache without waiting (its readahead), up to its end.
    func prefetch(pages first: UInt64, count: UInt64) {
        bs_layer_prefetch(unsafeKernelPointer, first, count)
    }

    /// Copies the layer's pages `first ..< first + count` from its page
    /// cache into the batch's folios of the same pages, marking each filled
    /// one uptodate; unlocks them all. Returns how many were filled (a page
    /// wholly past the layer's end, or a read error, is left not uptodate:
    /// a fault on it reports the error).
    func copy(pages first: UInt64, count: UInt64, into batch: borrowing FolioBatch) -> UInt64 {
        bs_folios_fill(unsafeKernelPointer, batch.folios(from: first), count)
    }

    /// `copy` for one folio; whether it was filled.
    func copy(into folio: borrowing LockedFolio) -> Bool {
        var pointer: OpaquePointer? = folio.folio
        return bs_folios_fill(unsafeKernelPointer, &pointer, 1) == 1
    }
}
