// SPDX-License-Identifier: GPL-2.0-or-later

/// The source of a copy-on-write fault on an own page: the page the kernel
/// copies into the restore's private anonymous page.
///
/// A page not in its layer's page cache is read straight from the disk (no
/// second copy in memory). Read one by one, a run of own pages would cost
/// one synchronous I/O per page, where a plain mapping's read-around reads
/// the run at once; so the first fault in a run reads the run around the
/// page (up to `LayerPage.runLimit` pages, inside its layer, both sides of
/// the page: a run touched from its end is read at once too) in the same
/// I/O, and the overlay keeps the others for their own faults
/// (`ReadAheadPages`). A
/// kept page is used only while its layer file is unchanged (its stamp)
/// and its page cache does not hold the page (which may be newer than the
/// disk); otherwise it is dropped and the page read as before. A mapping
/// advised MADV_RANDOM reads the faulting page alone.
enum OwnPageSource {
    static func give(_ overlay: UnsafeMutablePointer<Overlay>, layer: LayerIndex, page: UInt64,
                     to fault: borrowing PageFault) -> FaultResult {
        overlay.pointee.withOwnFile(layer) { file in
            // The stamp gives the size too (no second look at the inode).
            let stamp = file.stamp
            let layerPages = pageCount(ofFileBytes: stamp.size)
            // Past the layer's end the usual path gives SIGBUS.
            guard page < layerPages else { return fault.giveSource(page: page, of: file) }
            var kept: LayerPage? = nil
            let previous: UInt64? = overlay.pointee.withOwnReadAhead { pages in
                let previous = pages.lastFault.flatMap { $0.layer == layer ? $0.index : nil }
                pages.lastFault = (layer, page)
                kept = pages.take(layer: layer, index: page, stamp: stamp)
                return previous
            } ?? nil
            if let kept = kept.take() {
                if !file.cachesPage(page) {
                    Log.trace("own page copied from a page read ahead", Int64(page))
                    return fault.give(kept, read: false)
                }
            }
            // MADV_RANDOM: the page alone, as a plain mapping's fault reads.
            let runLimit = fault.readsAtRandom ? 1 : UInt64(LayerPage.runLimit)
            if let run = overlay.pointee.own.run(around: page, limit: runLimit, end: layerPages,
                                                   previous: previous), run.count > 1 {
                var source: LayerPage? = nil
                let read = file.readDirect(first: run.first, count: Int(run.count)) { (index: Int, readPage: consuming LayerPage) in
                    let readIndex = run.first + UInt64(index)
                    if readIndex == page {
                        source = Optional(readPage)
                        return
                    }
                    var pending = Optional(readPage)
                    _ = overlay.pointee.withOwnReadAhead { pages in
                        if let kept = pending.take() {
                            pages.insert(layer: layer, index: readIndex, stamp: stamp, page: kept)
                        }
                    }
                }
                if read, let source = source.take() {
                    Log.trace("own page's run read at once", Int64(run.count))
                    return fault.give(source, read: true)
                }
            }
            return fault.giveSource(page: page, of: file)
        }
    }
}
