// SPDX-License-Identifier: GPL-2.0-or-later

/// What requests share, from any processes, at two levels:
///
/// - Requests whose lower stacks are the same (the same layer files by
///   identity, in the same order, and the same segment table) show one
///   `LowerLayers` and share its page cache: restores of one template, each
///   with its own diff, hold the template's pages once.
/// - Requests whose whole stacks are the same (the same lower stack and the
///   same own layers and table) map one `Overlay`: the listing shows one
///   number for them. Their own pages are still each mapping's private
///   copies. Each request opens its own file of the overlay (its
///   `OverlayAttachment`), so ids, ownership and EEXIST stay per mapping.
///
/// A request never sees data older than its layer files at the time of the
/// request: a lower stack or an overlay is shared only while none of its
/// layer files has changed since it was made (size, change and modification
/// times, and i_version where the filesystem keeps one) and none is open
/// for writing anywhere (a writer could change a page it already dirtied
/// without touching the times). One made while a layer was open for writing
/// is never shared; one whose layer changed is dropped from its index, and
/// keeps serving the mappings it has.
///
/// Lookups go through indexes of fingerprints (`SharedOverlayIndex`); a
/// match is compared in full. The indexes and the objects' `indexed` flags
/// are guarded by the sharing lock, held only for in-memory work; an
/// object's release takes it out of its index before it is freed.
///
/// A lower stack outlives its last overlay, unused, for the next restore
/// of the same chain (a VM restored again from its template), with its
/// page cache: its inode stays when its last reference goes
/// (`LowerLayers.keepsUnused`, kmod/glue/overlay_fs.c), and a sweep every
/// `lower_keep_seconds` (a module parameter) evicts those it found unused
/// the time before too (`sweepUnusedLowers`), and memory pressure evicts
/// them as it does unused inodes (`shrinkUnusedLowers`).
enum OverlaySharing {
    /// What the sharing lock guards.
    struct State: ~Copyable {
        var lowers = SharedOverlayIndex()
        var overlays = SharedOverlayIndex()
        /// The lower stacks and the overlays alive.
        var liveLowers = 0
        var liveOverlays = 0
    }

    /// A lower stack's inode, referenced, and the stack it serves.
    struct SharedLower: ~Copyable {
        let inode: LowerInode
        let lower: LowerHandle
    }

    /// An overlay's inode, referenced, and the overlay.
    struct SharedOverlay: ~Copyable {
        let inode: OverlayInode
        let overlay: OverlayHandle
    }

    /// An inode for `lower`, with a reference for the caller: an existing
    /// lower stack's with the same layers and table (then `lower` is
    /// dropped), or a new inode that owns `lower`.
    static func inode(for lower: consuming LowerLayers) throws(OverlayError) -> SharedLower {
        let shareable = lower.layers.isUnchangedAndUnwritten
        let candidate = try LowerHandle.store(lower)
        var failure: OverlayError? = nil
        var retired: LowerInode? = nil
        let shared = ModuleState.current.pointee.sharing.withLock { (state: inout State) -> SharedLower? in
            if shareable, let existing = claimLower(matching: candidate, in: &state.lowers, retiring: &retired) {
                return existing
            }
            let inode: LowerInode
            do throws(OverlayError) {
                inode = try LowerInode.create(serving: candidate.raw, size: candidate.pointer.pointee.size,
                                              largeFolios: candidate.pointer.pointee.takesLargeFolios)
            } catch {
                failure = error
                return nil
            }
            candidate.pointer.pointee.inode = inode.reference
            state.liveLowers += 1
            // Without room in the index it is simply not shared.
            if shareable {
                candidate.pointer.pointee.indexed =
                    (try? state.lowers.insert(fingerprint: candidate.pointer.pointee.fingerprint,
                                              handle: candidate.raw)) != nil
            }
            return SharedLower(inode: inode, lower: candidate)
        }
        // Outside the lock, whose holder a lower stack's release takes: a
        // stale stack nothing uses goes now.
        _ = retired.take()
        guard let shared else {
            candidate.destroy()
            throw failure ?? .outOfMemory
        }
        if shared.lower.raw != candidate.raw {
            // Dropped outside the lock, as anything that may end a last reference.
            candidate.destroy()
            Log.debug("lower layers shared, segments", Int64(shared.lower.pointer.pointee.segments.count))
        }
        return shared
    }

    /// An inode for `overlay`, with a reference for the caller: an existing
    /// overlay's with the same stack (then `overlay` is dropped), or a new
    /// inode that owns `overlay`.
    static func inode(for overlay: consuming Overlay) throws(OverlayError) -> SharedOverlay {
        let shareable = overlay.lower.pointer.pointee.indexed && overlay.ownLayers.isUnchangedAndUnwritten
        let candidate = try OverlayHandle.store(overlay)
        var failure: OverlayError? = nil
        let shared = ModuleState.current.pointee.sharing.withLock { (state: inout State) -> SharedOverlay? in
            if shareable, let existing = claimOverlay(matching: candidate, in: &state.overlays) { return existing }
            let inode: OverlayInode
            do throws(OverlayError) {
                inode = try OverlayInode(serving: candidate.raw, size: candidate.pointer.pointee.size)
            } catch {
                failure = error
                return nil
            }
            candidate.pointer.pointee.inode = inode.reference
            state.liveOverlays += 1
            if shareable {
                candidate.pointer.pointee.indexed =
                    (try? state.overlays.insert(fingerprint: candidate.pointer.pointee.fingerprint,
                                                handle: candidate.raw)) != nil
            }
            return SharedOverlay(inode: inode, overlay: candidate)
        }
        // The candidate holds the lower stack's inode: it is dropped outside
        // the lock, whose holder a lower stack's release takes.
        guard let shared else {
            candidate.destroy()
            throw failure ?? .outOfMemory
        }
        if shared.overlay.raw != candidate.raw {
            candidate.destroy()
            Log.debug("overlay shared, own segments", Int64(shared.overlay.pointer.pointee.own.count))
        }
        return shared
    }

    /// Takes a released lower stack out of its index.
    static func forget(_ lower: LowerHandle) {
        ModuleState.current.pointee.sharing.withLock { state in
            state.liveLowers -= 1
            if lower.pointer.pointee.indexed {
                state.lowers.remove(fingerprint: lower.pointer.pointee.fingerprint, handle: lower.raw)
                lower.pointer.pointee.indexed = false
            }
        }
    }

    /// Takes a released overlay out of its index.
    static func forget(_ overlay: OverlayHandle) {
        ModuleState.current.pointee.sharing.withLock { state in
            state.liveOverlays -= 1
            if overlay.pointer.pointee.indexed {
                state.overlays.remove(fingerprint: overlay.pointer.pointee.fingerprint, handle: overlay.raw)
                overlay.pointer.pointee.indexed = false
            }
        }
    }

    /// The overlays alive and those in the index; the lower stacks alive,
    /// those in theirs, and those of them kept unused.
    static var counts: (overlays: Int, shareable: Int, lowers: Int, shareableLowers: Int, unusedLowers: Int) {
        ModuleState.current.pointee.sharing.withLock { state in
            (state.liveOverlays, state.overlays.count, state.liveLowers, state.lowers.count, unusedLowers(in: state.lowers))
        }
    }

    /// Evicts the unused lower stacks that the last sweep found unused too,
    /// or whose layers changed (`all`: every unused one), and marks those
    /// unused now for the next; whether unused ones remain kept. Each is
    /// taken out of the index and referenced under the lock, and its
    /// reference dropped outside it: the last, so the inode goes.
    static func sweepUnusedLowers(all: Bool) -> Bool {
        var remaining = false
        ModuleState.current.pointee.sharing.withLock { state in
            state.lowers.forEach { raw in
                let lower = LowerHandle(raw).pointer
                guard lower.pointee.inode?.isUnused == true else {
                    lower.pointee.unusedAtLastSweep = false
                    return
                }
                lower.pointee.evictionDue = all || lower.pointee.unusedAtLastSweep
                    || !lower.pointee.layers.isUnchangedAndUnwritten
                lower.pointee.unusedAtLastSweep = true
                if !lower.pointee.evictionDue { remaining = true }
            }
        }
        while true {
            var evicted: LowerInode? = nil
            let found = ModuleState.current.pointee.sharing.withLock { state in
                takeOutUnused(of: &state.lowers, retiring: &evicted) { $0.evictionDue }
            }
            guard found else { return remaining }
            _ = evicted.take()
            Log.debug("unused lower layers evicted")
        }
    }

    /// The unused lower stacks kept; 0 while the sharing lock is busy (the
    /// shrinker's count, which must not wait).
    static var unusedLowerCount: Int {
        ModuleState.current.pointee.sharing.withLockIfFree { state in unusedLowers(in: state.lowers) } ?? 0
    }

    /// The unused lower stacks of `index`. Call with the sharing lock held.
    private static func unusedLowers(in index: borrowing SharedOverlayIndex) -> Int {
        var unused = 0
        index.forEach { raw in
            if LowerHandle(raw).pointer.pointee.inode?.isUnused == true { unused += 1 }
        }
        return unused
    }

    /// Evicts up to `count` unused lower stacks under memory pressure, those
    /// the last sweep found unused first: how many, or nil if the sharing
    /// lock was busy at once (reclaim never waits for it: its holder may be
    /// allocating, and so in reclaim itself).
    static func shrinkUnusedLowers(upTo count: Int) -> Int? {
        var evictedCount = 0
        while evictedCount < count {
            var evicted: LowerInode? = nil
            let found = ModuleState.current.pointee.sharing.withLockIfFree { state in
                takeOutUnused(of: &state.lowers, retiring: &evicted) { $0.unusedAtLastSweep }
                    || takeOutUnused(of: &state.lowers, retiring: &evicted) { _ in true }
            }
            guard let found else { return evictedCount == 0 ? nil : evictedCount }
            guard found else { break }
            _ = evicted.take()
            evictedCount += 1
        }
        return evictedCount
    }

    /// Takes the first unused lower stack that `picks` picks out of the
    /// index, with a reference in `retired` for the caller to drop outside
    /// the lock (the last: the inode goes); whether there was one. Call
    /// with the sharing lock held.
    private static func takeOutUnused(of index: inout SharedOverlayIndex, retiring retired: inout LowerInode?,
                                      where picks: (borrowing LowerLayers) -> Bool) -> Bool {
        let picked = index.removeFirst { raw in
            let lower = LowerHandle(raw).pointer
            return lower.pointee.inode?.isUnused == true && picks(lower.pointee)
        }
        guard let picked else { return false }
        let lower = LowerHandle(picked).pointer
        lower.pointee.indexed = false
        lower.pointee.evictionDue = false
        retired = lower.pointee.inode?.grabLower()
        return true
    }

    /// An indexed lower stack with `lower`'s layers and table whose layers
    /// have not changed, with a new reference on its inode (an unused one
    /// is used again). A stale candidate leaves the index on the way, with
    /// a reference in `retired` for the caller to drop outside the lock (an
    /// unused one then goes: see `LowerLayers.indexed`); one at most, any
    /// other stays for a later claim or sweep. Call with the sharing lock held.
    private static func claimLower(matching lower: LowerHandle, in index: inout SharedOverlayIndex,
                                   retiring retired: inout LowerInode?) -> SharedLower? {
        var claimed: LowerInode? = nil
        var retiredOne = false
        let raw = index.claim(fingerprint: lower.pointer.pointee.fingerprint) { raw in
            let candidate = LowerHandle(raw).pointer
            guard candidate.pointee.underOwnPages == lower.pointer.pointee.underOwnPages,
                  candidate.pointee.layers.hasSameFiles(as: lower.pointer.pointee.layers),
                  candidate.pointee.segments.hasSameSegments(as: lower.pointer.pointee.segments)
            else { return .skip }
            // A changed layer: never again.
            guard candidate.pointee.layers.isUnchangedAndUnwritten else {
                guard !retiredOne else { return .skip }
                retiredOne = true
                candidate.pointee.indexed = false
                retired = candidate.pointee.inode?.grabLower()
                return .drop
            }
            // An inode being evicted: never again either.
            guard let inode = candidate.pointee.inode?.grabLower() else {
                candidate.pointee.indexed = false
                return .drop
            }
            candidate.pointee.unusedAtLastSweep = false
            candidate.pointee.evictionDue = false
            candidate.pointee.adoptWindow(of: lower.pointer.pointee)
            claimed = consume inode
            return .take
        }
        guard let raw, let inode = claimed.take() else { return nil }
        return SharedLower(inode: inode, lower: LowerHandle(raw))
    }

    /// `claimLower` for overlays.
    private static func claimOverlay(matching overlay: OverlayHandle,
                                     in index: inout SharedOverlayIndex) -> SharedOverlay? {
        var claimed: OverlayInode? = nil
        let raw = index.claim(fingerprint: overlay.pointer.pointee.fingerprint) { raw in
            let candidate = OverlayHandle(raw).pointer
            guard candidate.pointee.lower.pointer == overlay.pointer.pointee.lower.pointer,
                  candidate.pointee.ownLayers.hasSameFiles(as: overlay.pointer.pointee.ownLayers),
                  candidate.pointee.own.hasSameSegments(as: overlay.pointer.pointee.own)
            else { return .skip }
            guard candidate.pointee.ownLayers.isUnchangedAndUnwritten,
                  let inode = candidate.pointee.inode?.grabOverlay()
            else {
                candidate.pointee.indexed = false
                return .drop
            }
            claimed = consume inode
            return .take
        }
        guard let raw, let inode = claimed.take() else { return nil }
        return SharedOverlay(inode: inode, overlay: OverlayHandle(raw))
    }
}
