// SPDX-License-Identifier: GPL-2.0-or-later

/// Fills the page cache of lower layers from their files (`readahead` and
/// `read_folio` of the lower inode), a batch of folios at a time, as
/// `FillPlan` says: each piece of a layer (its runs with short gaps
/// between them) read directly into the folios with one I/O, the pieces
/// refused prefetched together and copied.
///
/// Readahead hands each batch to a fill worker and returns, as a plain
/// file's readahead submits its reads and returns: the faulting thread
/// waits for its own folio only, and the reads of later batches overlap
/// its touching of the first.
enum LowerFill {
    /// Hands the folios of a readahead request to the fill workers, a batch
    /// at a time (filling a batch here when memory for the hand-over is short).
    static func readahead(_ lower: LowerHandle, _ request: borrowing ReadaheadRequest) {
        request.forEachBatch { batch in
            if !batch.handToWorker(lower.raw) { fill(lower, batch) }
        }
    }

    /// Fills one folio (a fault on a page readahead did not bring in, or
    /// left unfilled): 0, or -EIO when a layer could not give every page
    /// of it (a read error, or a page wholly past the layer's end).
    static func read(_ lower: LowerHandle, _ folio: borrowing LockedFolio) -> Int32 {
        folio.withBatch { batch in fill(lower, batch) ? 0 : -EIO }
    }

    /// Fills a batch and unlocks its folios; whether every folio was filled.
    @discardableResult
    static func fill(_ lower: LowerHandle, _ batch: consuming FolioBatch) -> Bool {
        let lower = lower.pointer
        var plan = FillPlan(lower.pointee.segments, first: batch.firstPage, count: batch.pageCount)
        plan.readDirectly { piece in
            let read = lower.pointee.layers.withFile(piece.layer) { file in file.readDirectly(piece, into: batch) }
            if read {
                Log.trace("fill piece read directly, pages", Int64(piece.count))
                var served: UInt64 = 0
                for offset in 0..<piece.count where piece.serves(offset) { served += 1 }
                lower.pointee.layers.recordServed(served, from: piece.layer)
            }
            return read
        }
        // Every refused run's read in flight at once, then each copied.
        plan.forEachRunToCopy { run in
            lower.pointee.layers.withFile(run.layer) { file in file.prefetch(pages: run.first, count: run.count) }
        }
        plan.forEachRunToCopy { run in
            Log.trace("fill run copied, pages", Int64(run.count))
            let filled = lower.pointee.layers.withFile(run.layer) { file in file.copy(run, into: batch) }
            lower.pointee.layers.recordServed(filled, from: run.layer)
        }
        return !batch.hasFailures
    }
}
