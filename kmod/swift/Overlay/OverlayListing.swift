// SPDX-License-Identifier: GPL-2.0-or-later

/// The text of /sys/kernel/debug/batch_syscalls/overlays: one line per
/// registered id (a create request not cleaned up whose mapping is alive),
/// as `key=value` fields:
///
///     id=<32 hex digits> pid=<creator> overlay=<n> attached=<n>
///     segments=<n> layers=<n> cached_pages=<n> served=<layer 0>,<layer 1>,...
///
/// `overlay` numbers the overlay inode the request maps (requests that
/// share one show the same number) and `attached` counts the requests whose
/// mappings use it, cleaned up or not. Nothing in it is a kernel address.
enum OverlayListing {
    /// Renders the listing into `buffer`; nil if it does not fit (the
    /// caller retries with a larger one).
    static func render(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        var text = TextBuffer(buffer)
        ModuleState.current.pointee.registry.withLock { registry in
            // Holding the registry lock keeps every listed attachment, and
            // so its file, inode and overlay, alive: its release removes it
            // from the registry first.
            registry.forEach { entry in
                let overlay = AttachmentHandle(entry.handle).pointer.pointee.overlay
                text.append("id=")
                text.appendHex(entry.id.high)
                text.appendHex(entry.id.low)
                text.append(" pid=")
                text.append(entry.owner.processID)
                text.append(" overlay=")
                text.append(overlay.pointee.serial)
                text.append(" attached=")
                text.append(UInt64(Swift.max(0, overlay.pointee.attachedCount)))
                text.append(" segments=")
                text.append(UInt64(overlay.pointee.segments.count))
                text.append(" layers=")
                text.append(UInt64(overlay.pointee.layers.count))
                text.append(" cached_pages=")
                text.append(overlay.pointee.inode?.cachedPages ?? 0)
                text.append(" served=")
                for layer in 0..<overlay.pointee.layers.count {
                    if layer > 0 { text.append(",") }
                    text.append(overlay.pointee.layers.pagesServed(by: LayerIndex(layer)))
                }
                text.append("\n")
            }
        }
        return text.overflowed ? nil : text.count
    }
}

extension OverlayListing {
    /// Renders /sys/kernel/debug/batch_syscalls/stats: one line
    ///
    ///     overlays=<n> shareable=<n> files=<n> ids=<n>
    ///
    /// the overlay inodes alive, those a create request may share, the
    /// create requests' files alive (cleaned up or not) and the ids
    /// registered. All four return to 0 when every mapping is gone.
    static func renderStats(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let (overlays, shareable) = OverlaySharing.counts
        let (files, ids) = ModuleState.current.pointee.registry.withLock { registry in
            (registry.attachmentFiles, registry.count)
        }
        var text = TextBuffer(buffer)
        text.append("overlays=")
        text.append(UInt64(overlays))
        text.append(" shareable=")
        text.append(UInt64(shareable))
        text.append(" files=")
        text.append(UInt64(files))
        text.append(" ids=")
        text.append(UInt64(ids))
        text.append("\n")
        return text.overflowed ? nil : text.count
    }
}
