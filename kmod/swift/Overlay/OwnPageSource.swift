// SPDX-License-Identifier: GPL-2.0-or-later

/// The source of a copy-on-write fault on an own page: the page the kernel
/// copies into the restore's private anonymous page.
///
/// A page not in its layer's page cache is read straight from the disk (no
/// second copy in memory). Read one by one, a run of own pages would cost
/// one synchronous I/O per page, where a plain mapping's readahead reads
/// the run at once; so the first fault in a run reads the rest of it (up to
/// `LayerPage.runLimit` pages, inside its layer) in the same I/O, and the
/// overlay keeps those pages for their own faults (`ReadAheadPages`). A
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
            let layerPages = (UInt64(Swift.max(stamp.size, 0)) + (1 << pageShift) - 1) >> pageShift
            // Past the layer's end the usual path gives SIGBUS.
            guard page < layerPages else { return fault.giveSource(page: page, of: file) }
            if let kept = take(overlay, layer: layer, page: page, stamp: stamp) {
                if !file.cachesPage(page) {
                    Log.trace("own page copied from a page read ahead", Int64(page))
                    return fault.give(kept, read: false)
                }
            }
            // MADV_RANDOM: the page alone, as a plain mapping's fault reads.
            let runLimit = fault.readsAtRandom ? 1 : UInt64(LayerPage.runLimit)
            let run = overlay.pointee.own.run(from: page, limit: Swift.min(runLimit, layerPages - page))
            if run > 1 {
                var first: LayerPage? = nil
                let read = file.readDirect(first: page, count: Int(run)) { (index: Int, readPage: consuming LayerPage) in
                    if index == 0 {
                        first = Optional(readPage)
                        return
                    }
                    var pending = Optional(readPage)
                    _ = overlay.pointee.withOwnReadAhead { pages in
                        if let kept = pending.take() {
                            pages.insert(layer: layer, index: page + UInt64(index), stamp: stamp, page: kept)
                        }
                    }
                }
                if read, let source = first.take() {
                    Log.trace("own page's run read at once", Int64(run))
                    return fault.give(source, read: true)
                }
            }
            return fault.giveSource(page: page, of: file)
        }
    }

    /// The page read ahead for `page` of `layer`, taken out, if the
    /// overlay keeps one read under `stamp`.
    private static func take(_ overlay: UnsafeMutablePointer<Overlay>, layer: LayerIndex, page: UInt64,
                             stamp: FileStamp) -> LayerPage? {
        var taken: LayerPage? = nil
        _ = overlay.pointee.withOwnReadAhead { pages in taken = pages.take(layer: layer, index: page, stamp: stamp) }
        return taken
    }
}
