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
/// the overlays' `indexed` flags are guarded by the sharing lock, held only
/// for in-memory work; an overlay's release takes it out before it is freed.
enum OverlaySharing {
    /// What the sharing lock guards.
    struct State: ~Copyable {
        var index = SharedOverlayIndex()
        /// The overlays alive.
        var liveOverlays = 0
    }

    /// An overlay's inode, referenced, and the overlay it serves.
    struct SharedInode: ~Copyable {
        let inode: OverlayInode
        let overlay: OverlayHandle
    }

    /// An inode for `overlay`, with a reference for the caller: an existing
    /// overlay's with the same stack (then `overlay` is dropped), or a new
    /// inode that owns `overlay`.
    static func inode(for overlay: consuming Overlay) throws(OverlayError) -> SharedInode {
        let shareable = overlay.layers.isUnchangedAndUnwritten
        // Moved into the lock's closure (which cannot consume a capture).
        var pending: Overlay? = overlay
        return try ModuleState.current.pointee.sharing.withLock {
            (state: inout State) throws(OverlayError) -> SharedInode in
            let overlay = pending.take()!
            if shareable, let existing = claim(matching: overlay, in: &state.index) {
                Log.debug("overlay shared, segments", Int64(existing.overlay.pointer.pointee.segments.count))
                return existing
            }
            let size = overlay.size
            let handle = try OverlayHandle.store(overlay)
            let inode: OverlayInode
            do throws(OverlayError) {
                inode = try OverlayInode.create(serving: handle.raw, size: size)
            } catch {
                handle.destroy()
                throw error
            }
            handle.pointer.pointee.inode = inode.reference
            state.liveOverlays += 1
            if shareable {
                // Without room in the index the overlay is simply not shared.
                let fingerprint = handle.pointer.pointee.fingerprint
                handle.pointer.pointee.indexed =
                    (try? state.index.insert(fingerprint: fingerprint, handle: handle.raw)) != nil
            }
            return SharedInode(inode: inode, overlay: handle)
        }
    }

    /// Takes a released overlay out of the index.
    static func forget(_ handle: OverlayHandle) {
        ModuleState.current.pointee.sharing.withLock { state in
            state.liveOverlays -= 1
            if handle.pointer.pointee.indexed {
                state.index.remove(fingerprint: handle.pointer.pointee.fingerprint, handle: handle.raw)
                handle.pointer.pointee.indexed = false
            }
        }
    }

    /// The overlays alive, and those in the index.
    static var counts: (alive: Int, shareable: Int) {
        ModuleState.current.pointee.sharing.withLock { state in (state.liveOverlays, state.index.count) }
    }

    /// An indexed overlay with `overlay`'s stack whose layers have not
    /// changed, with a new reference on its inode; stale candidates leave
    /// the index on the way. Call with the sharing lock held.
    private static func claim(matching overlay: borrowing Overlay,
                              in index: inout SharedOverlayIndex) -> SharedInode? {
        var claimed: OverlayInode? = nil
        let raw = index.claim(fingerprint: overlay.fingerprint) { raw in
            let candidate = OverlayHandle(raw).pointer
            guard candidate.pointee.layers.hasSameFiles(as: overlay.layers),
                  candidate.pointee.segments.hasSameSegments(as: overlay.segments)
            else { return .skip }
            // A changed layer, or an inode being evicted: never again.
            guard candidate.pointee.layers.isUnchangedAndUnwritten,
                  let inode = candidate.pointee.inode?.grab()
            else {
                candidate.pointee.indexed = false
                return .drop
            }
            claimed = consume inode
            return .take
        }
        guard let raw, let inode = claimed.take() else { return nil }
        return SharedInode(inode: inode, overlay: OverlayHandle(raw))
    }
}
