// SPDX-License-Identifier: GPL-2.0-or-later

/// The text of /sys/kernel/debug/batch_syscalls/overlays: one line per
/// registered id (a create request not cleaned up whose mapping is alive),
/// as `key=value` fields:
///
///     id=<32 hex digits> pid=<creator> overlay=<n> lower=<n> attached=<n>
///     segments=<n> layers=<n> cached_pages=<n> served=<layer 0>,<layer 1>,...
///     target=<pid>
///
/// `overlay` numbers the overlay the request maps (requests with the same
/// stack map one and show the same number); `lower` numbers the page cache
/// its layers beneath are served from (requests that share it show the same
/// number; 0: the base file's own page cache); `attached` counts the
/// requests whose mappings map it, cleaned up or not. `segments` and
/// `layers` count the lower stack's and the overlay's own together (the lower
/// stack's layers first in `served`; a lower layer whose every page an own
/// layer hides is left out, the base never). `served` counts, per layer, the pages
/// of the overlay it gives: for a layer of the lower stack, the lower page
/// cache's pages at the overlay's pages where that layer is the top one; for
/// an own layer, the private copies made of its pages in the request's
/// mappings. `cached_pages` is their sum: the request's pages in memory.
/// `target` is the process whose mapping it overlays: the creator's own,
/// or the one a v2 request named by pidfd. Nothing in it is a kernel address.
enum OverlayListing {
    /// Renders the listing into `buffer`; nil if it does not fit (the
    /// caller retries with a larger one).
    static func render(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        var text = TextBuffer(buffer)
        ModuleState.current.pointee.registry.withLock { registry in
            // Holding the registry lock keeps every listed attachment, and
            // so its file, overlay and lower overlay, alive: its release
            // removes it from the registry first.
            registry.forEach { entry in
                let attachment = AttachmentHandle(entry.handle).pointer
                let overlay = attachment.pointee.overlay
                let lower = overlay.pointee.lower.pointer
                var copies: UInt64 = 0
                for layer in 0..<overlay.pointee.ownLayers.count { copies += attachment.pointee.copiesMade(of: layer) }
                var shownLayers = overlay.pointee.ownLayers.count
                var segments = overlay.pointee.own.count
                for layer in 0..<lower.pointee.layers.count where overlay.pointee.showsLowerLayer(LayerIndex(layer)) {
                    shownLayers += 1
                }
                for segment in lower.pointee.segments.segments where overlay.pointee.showsLowerLayer(segment.layer) {
                    segments += 1
                }
                text.append("id=")
                text.appendHex(entry.id.high)
                text.appendHex(entry.id.low)
                text.append(" pid=")
                text.append(entry.owner.processID)
                text.append(" overlay=")
                text.append(overlay.pointee.serial)
                text.append(" lower=")
                text.append(lower.pointee.servesFromBaseFile ? 0 : lower.pointee.serial)
                text.append(" attached=")
                text.append(UInt64(Swift.max(0, overlay.pointee.attachedCount)))
                text.append(" segments=")
                text.append(UInt64(segments))
                text.append(" layers=")
                text.append(UInt64(shownLayers))
                text.append(" cached_pages=")
                text.append(overlay.pointee.cachedLowerPages() + copies)
                text.append(" served=")
                var first = true
                for layer in 0..<lower.pointee.layers.count where overlay.pointee.showsLowerLayer(LayerIndex(layer)) {
                    if !first { text.append(",") }
                    first = false
                    text.append(overlay.pointee.cachedLowerPages(servedBy: LayerIndex(layer)))
                }
                for layer in 0..<overlay.pointee.ownLayers.count {
                    text.append(",")
                    text.append(attachment.pointee.copiesMade(of: layer))
                }
                text.append(" target=")
                text.append(attachment.pointee.targetProcessID)
                text.append("\n")
            }
        }
        return text.overflowed ? nil : text.count
    }
}

extension OverlayListing {
    /// Renders /sys/kernel/debug/batch_syscalls/stats: one line
    ///
    ///     overlays=<n> shareable=<n> files=<n> ids=<n> lowers=<n> shareable_lowers=<n> unused_lowers=<n>
    ///
    /// the overlays alive, those a create request may share, the create
    /// requests' files alive (cleaned up or not), the ids registered, the
    /// lower stacks alive, those requests may share, and those of them kept
    /// unused for the next restore of their chain. The overlays', files'
    /// and ids' counts return to 0 when every mapping is gone; the lower
    /// stacks' do once the unused ones are evicted (`lower_keep_seconds`,
    /// memory pressure).
    static func renderStats(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let counts = OverlaySharing.counts
        let (files, ids) = ModuleState.current.pointee.registry.withLock { registry in
            (registry.attachmentFiles, registry.count)
        }
        var text = TextBuffer(buffer)
        text.append("overlays=")
        text.append(UInt64(counts.overlays))
        text.append(" shareable=")
        text.append(UInt64(counts.shareable))
        text.append(" files=")
        text.append(UInt64(files))
        text.append(" ids=")
        text.append(UInt64(ids))
        text.append(" lowers=")
        text.append(UInt64(counts.lowers))
        text.append(" shareable_lowers=")
        text.append(UInt64(counts.shareableLowers))
        text.append(" unused_lowers=")
        text.append(UInt64(counts.unusedLowers))
        text.append("\n")
        return text.overflowed ? nil : text.count
    }
}
