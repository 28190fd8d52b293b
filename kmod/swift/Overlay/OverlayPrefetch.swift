// SPDX-License-Identifier: GPL-2.0-or-later

extension Overlay {
    /// Starts reading pages `first...last` (clamped to the overlay's end),
    /// each from the page cache that serves it, and waits for none: the
    /// lower stack's pages into the page cache the overlay's `file` maps
    /// (the base file's own, or the lower inode's, whose fill runs in the
    /// module's fill workers), and each own layer's pages into that layer's
    /// page cache, from which a fault then copies them. What a loading set
    /// and `MADV_WILLNEED` (fadvise) on an overlay mapping do.
    func prefetch(first: UInt64, last: UInt64, through file: borrowing KernelFile) {
        let pages = pageCount(ofFileBytes: size)
        guard first < pages, first <= last else { return }
        let count = Swift.min(last, pages - 1) - first + 1
        for run in FaultPlan(segments: own.segments, first: first, count: count) {
            if run.layer == Layers.base {
                file.prefetch(pages: run.first, count: run.count)
            } else {
                withOwnFile(run.layer) { layer in layer.prefetch(pages: run.first, count: run.count) }
            }
        }
    }

    /// The readahead window of the overlay's files as opened: the base
    /// file's where its page cache serves the lower stack, else the lower
    /// inode's (`LowerLayers.overlayReadaheadPages`).
    var readaheadPages: UInt32 { lower.pointer.pointee.overlayReadaheadPages }
}
