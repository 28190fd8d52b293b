// SPDX-License-Identifier: GPL-2.0-or-later

/// A readahead request of a lower inode's page cache (`struct
/// readahead_control`): its folios, locked and not yet uptodate, large or
/// small, taken a batch at a time. Folios left in the request are unlocked
/// by the kernel.
struct ReadaheadRequest: ~Copyable {
    private let control: OpaquePointer

    init(unsafeKernelPointer control: OpaquePointer) {
        self.control = control
    }

    /// Calls `body` with each batch of consecutive folios (up to 256 pages,
    /// or 64 folios) until the request has none left.
    func forEachBatch(_ body: (consuming FolioBatch) -> Void) {
        // 544 bytes on the stack (below the stdlib's 1 KiB limit, so no heap).
        withUnsafeTemporaryAllocation(of: bs_fill_batch.self, capacity: 1) { storage in
            let batch = storage.baseAddress!
            batch.initialize(to: bs_fill_batch())
            while bs_fill_batch_take(control, batch) > 0 {
                body(FolioBatch(unsafeKernelPointer: batch))
            }
        }
    }
}

/// Locked folios of consecutive pages of a lower inode's page cache,
/// waiting to be filled: pages `firstPage ..< firstPage + pageCount`.
///
/// When it goes, every folio that was filled whole is marked uptodate and
/// all are unlocked: a folio never stays locked, and one left unfilled
/// reports its error when a fault reads it again.
struct FolioBatch: ~Copyable {
    // SAFETY: a batch of folios, locked and referenced by the page cache
    // (and by the fill worker, for a queued batch), until `deinit` unlocks
    // them.
    fileprivate let batch: UnsafeMutablePointer<bs_fill_batch>

    init(unsafeKernelPointer batch: UnsafeMutablePointer<bs_fill_batch>) {
        self.batch = batch
    }

    deinit { bs_fill_finish(batch) }

    var firstPage: UInt64 { batch.pointee.first_page }
    var pageCount: UInt64 { batch.pointee.pages }
    /// Whether some folio could not be filled whole.
    var hasFailures: Bool { batch.pointee.failed != 0 }

    /// Hands the folios to a fill worker, which fills them with
    /// `bs_swift_lower_fill` while this thread goes on: the batch is then
    /// empty. False when memory is short: fill them here.
    func handToWorker(_ lower: UnsafeMutableRawPointer) -> Bool {
        bs_fill_queue(lower, batch)
    }
}

/// One locked folio of a lower inode's page cache that `read_folio` must
/// fill (a fault on a page readahead did not bring in, or could not fill).
struct LockedFolio: ~Copyable {
    let page: UInt64
    // SAFETY: locked and referenced by the page cache until filled.
    fileprivate let folio: OpaquePointer

    init(unsafeKernelPointer folio: OpaquePointer, page: UInt64) {
        self.folio = folio
        self.page = page
    }

    /// Calls `body` with a batch of this folio alone (unlocked when it goes).
    func withBatch<Result>(_ body: (consuming FolioBatch) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: bs_fill_batch.self, capacity: 1) { storage in
            let batch = storage.baseAddress!
            batch.initialize(to: bs_fill_batch())
            bs_fill_batch_of_folio(folio, batch)
            return body(FolioBatch(unsafeKernelPointer: batch))
        }
    }
}

extension KernelFile {
    /// Reads `piece`'s pages of this layer with one direct I/O (no copy,
    /// nothing left in the layer's page cache) straight into the batch's
    /// folios of the pages the layer serves, the others into a scratch
    /// page. False, with nothing changed, when direct I/O does not apply
    /// here (see bs_read_direct_iter): then copy them.
    func readDirectly(_ piece: FillPlan.Piece, into batch: borrowing FolioBatch) -> Bool {
        if piece.isWhole { return bs_fill_read_direct(unsafeKernelPointer, batch.batch, piece.first, piece.count, nil) }
        var served = piece.served
        return withUnsafeBytes(of: &served) { words in
            bs_fill_read_direct(unsafeKernelPointer, batch.batch, piece.first, piece.count,
                                words.baseAddress!.assumingMemoryBound(to: UInt64.self))
        }
    }

    /// Starts reading pages `first ..< first + count` into the file's page
    /// cache without waiting (those pages only, 2 MiB a read), up to
    /// its end: a layer's own, or the lower page cache an overlay's file maps.
    func prefetch(pages first: UInt64, count: UInt64) {
        bs_file_prefetch(unsafeKernelPointer, first, count)
    }

    /// Copies `run`'s pages of this layer from its page cache into the
    /// batch's folios; returns how many were filled (a page that cannot be
    /// marks its folio failed: see bs_fill_copy).
    func copy(_ run: LayerRun, into batch: borrowing FolioBatch) -> UInt64 {
        bs_fill_copy(unsafeKernelPointer, batch.batch, run.first, run.count)
    }
}
