// SPDX-License-Identifier: GPL-2.0-or-later

/// Fills the page cache of lower layers from their files (`read_folio` and
/// `readahead` of the lower inode), as `FillPlan` says.
enum LowerFill {
    /// Fills the folios of a readahead request, a batch at a time.
    static func readahead(_ lower: LowerHandle, _ request: borrowing ReadaheadRequest) {
        request.forEachBatch { batch in fill(lower.pointer, batch) }
    }

    /// Fills one folio (a fault on a page readahead did not bring in):
    /// 0, or -EIO when the layer could not give it (a read error, or the
    /// page lies wholly past the layer's end).
    static func read(_ lower: LowerHandle, _ folio: borrowing LockedFolio) -> Int32 {
        let lower = lower.pointer
        let layer = lower.pointee.segments.layer(forPage: folio.page)
        let filled = lower.pointee.layers.withFile(layer) { file in file.copy(into: folio) }
        lower.pointee.layers.recordServed(filled ? 1 : 0, from: layer)
        return filled ? 0 : -EIO
    }

    /// Fills one batch: each layer's span read directly where the layer
    /// allows it (one I/O per layer, no copy), then the other layers
    /// prefetched together and their runs copied from their page cache.
    private static func fill(_ lower: UnsafeMutablePointer<LowerLayers>, _ batch: borrowing FolioBatch) {
        let plan = FillPlan(lower.pointee.segments, first: batch.firstPage, count: batch.count)
        var direct: UInt32 = 0
        for index in 0..<plan.spanCount {
            let span = plan.span(index)
            let served = plan.servedMask(ofSpan: index)
            let read = lower.pointee.layers.withFile(span.layer) { file in
                file.readDirectly(pages: span.first, count: span.count, into: batch, served: served)
            }
            if read {
                direct |= 1 << UInt32(index)
                Log.trace("readahead span read directly, pages", Int64(span.count))
                lower.pointee.layers.recordServed(UInt64(served.nonzeroBitCount), from: span.layer)
            }
        }
        plan.forEachSpanToPrefetch(afterDirect: direct) { span in
            lower.pointee.layers.withFile(span.layer) { file in
                file.prefetch(pages: span.first, count: span.count)
            }
        }
        plan.forEachRunToCopy(afterDirect: direct) { run in
            Log.trace("readahead run copied, pages", Int64(run.count))
            let filled = lower.pointee.layers.withFile(run.layer) { file in
                file.copy(pages: run.first, count: run.count, into: batch)
            }
            lower.pointee.layers.recordServed(filled, from: run.layer)
        }
    }
}
