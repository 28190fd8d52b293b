// SPDX-License-Identifier: GPL-2.0-or-later

/// Create requests, from any processes, whose flattened stacks are the same
/// (the same layer files by identity, in the same order, and the same
/// segment table) map one overlay inode and share its page cache: a hundred
/// VMs restored from one snapshot hold one copy of each page of the view.
/// Each request still opens its own file of the inode (its
/// `OverlayAttachment`), so ids, ownership and EEXIST stay per mapping.
///
/// A request never sees data older than its layer files at the time of the
/// request: an overlay is shared only while none of its layer files has
/// changed since it was made (size, change and modification times, and
/// i_version where the filesystem keeps one) and none is open for writing
/// anywhere (a writer could change a page it already dirtied without
/// touching the times). An overlay made while a layer was open for writing
/// is never shared; one whose layer changed is dropped from the index, and
/// keeps serving the mappings it has.
///
/// Lookups go through an index of fingerprints (`SharedOverlayIndex`); a
/// match is compared in full (layers, then every segment). The index and
/// the overlays' `indexed` flags are guarded by a mutex held only for
/// in-memory work; an overlay's release takes it out before it is freed.
enum OverlaySharing {
    /// An inode for `overlay`, with a reference for the caller: an existing
    /// overlay's with the same stack (then `overlay` is dropped), or a new
    /// inode that owns `overlay`. Also returns the overlay the inode serves.
    static func inode(for overlay: consuming Overlay) throws(OverlayError)
        -> (OpaquePointer, UnsafeMutablePointer<Overlay>) {
        let shareable = overlay.layers.isUnchangedAndUnwritten
        bs_sharing_lock()
        defer { bs_sharing_unlock() }
        if shareable, let existing = claim(matching: overlay) {
            Log.debug("overlay shared, segments", Int64(existing.pointee.segments.count))
            return (existing.pointee.inode!, existing)
        }
        let size = overlay.size
        let handle = try OverlayHandle.store(overlay)
        var error: Int32 = 0
        guard let inode = bs_overlay_inode_create(handle.raw, size, &error) else {
            handle.destroy()
            throw .kernel(errno: -error)
        }
        handle.pointer.pointee.inode = inode
        liveOverlays += 1
        if shareable {
            // Without room in the index the overlay is simply not shared.
            let fingerprint = handle.pointer.pointee.fingerprint
            handle.pointer.pointee.indexed =
                (try? sharedOverlays.insert(fingerprint: fingerprint, handle: handle.raw)) != nil
        }
        return (inode, handle.pointer)
    }

    /// Takes a released overlay out of the index.
    /// Frees the index's storage at module exit (empty by then): a global
    /// is never destroyed, so its buffer would outlive the module (kmemleak
    /// found it after a reload).
    static func releaseStorage() {
        bs_sharing_lock()
        defer { bs_sharing_unlock() }
        sharedOverlays = SharedOverlayIndex()
    }

    static func forget(_ handle: OverlayHandle) {
        bs_sharing_lock()
        defer { bs_sharing_unlock() }
        liveOverlays -= 1
        if handle.pointer.pointee.indexed {
            sharedOverlays.remove(fingerprint: handle.pointer.pointee.fingerprint, handle: handle.raw)
            handle.pointer.pointee.indexed = false
        }
    }

    /// The overlays alive, and those in the index.
    static var counts: (alive: Int, shareable: Int) {
        bs_sharing_lock()
        defer { bs_sharing_unlock() }
        return (liveOverlays, sharedOverlays.count)
    }

    /// An indexed overlay with `overlay`'s stack whose layers have not
    /// changed, with a new reference on its inode; stale candidates leave
    /// the index on the way.
    private static func claim(matching overlay: borrowing Overlay) -> UnsafeMutablePointer<Overlay>? {
        let raw = sharedOverlays.claim(fingerprint: overlay.fingerprint) { raw in
            let candidate = OverlayHandle(raw).pointer
            guard candidate.pointee.layers.hasSameFiles(as: overlay.layers),
                  candidate.pointee.segments.hasSameSegments(as: overlay.segments)
            else { return .skip }
            // A changed layer, or an inode being evicted: never again.
            guard candidate.pointee.layers.isUnchangedAndUnwritten,
                  let inode = candidate.pointee.inode, bs_inode_grab(inode)
            else {
                candidate.pointee.indexed = false
                return .drop
            }
            return .take
        }
        return raw.map { OverlayHandle($0).pointer }
    }
}

/// The overlays create requests may share (under the sharing lock).
nonisolated(unsafe) private var sharedOverlays = SharedOverlayIndex()
/// The overlays alive (under the sharing lock).
nonisolated(unsafe) private var liveOverlays = 0
