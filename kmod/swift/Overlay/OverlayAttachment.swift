// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// One create request's hold on its overlay: the open file of the overlay that
/// the request mapped over the base mapping, with the request's id and
/// owner. Ids, ownership and "already overlaid" are per attachment,
/// so they stay per mapping whoever else maps the same overlay; fork and
/// VMA splits share the file, so they share the attachment too.
///
/// It lives in memory that the file owns: the file's release (its last
/// mapping or descriptor gone) removes the id from the registry and frees
/// it.
struct OverlayAttachment: ~Copyable {
    /// The id the create request returned; registered until cleanup or
    /// release.
    var id: OverlayID
    let owner: OwnerToken
    /// The process whose mapping the request overlaid (the owner's, unless
    /// the request named another by pidfd).
    let targetProcessID: UInt64
    /// The overlay it maps (alive while the file is: the file holds the inode).
    let overlay: UnsafeMutablePointer<Overlay>
    /// Per own layer, the private copies made of its pages in the mappings
    /// of this request's file (with its forks' and split pieces').
    let copies: LayerBuffer<Atomic<UInt64>>

    init(id: OverlayID, owner: OwnerToken, targetProcessID: UInt64,
         overlay: UnsafeMutablePointer<Overlay>) throws(OverlayError) {
        var copies = try LayerBuffer<Atomic<UInt64>>(capacity: overlay.pointee.ownLayers.count)
        for _ in 0..<overlay.pointee.ownLayers.count { copies.append(Atomic(0)) }
        self.id = id
        self.owner = owner
        self.targetProcessID = targetProcessID
        self.overlay = overlay
        self.copies = copies
    }

    /// Counts a private copy made of a page of own layer `layer` (from 0).
    func recordCopy(of layer: Int) {
        copies.withElement(layer) { count in _ = count.add(1, ordering: .relaxed) }
    }

    /// The private copies made of own layer `layer`'s pages.
    func copiesMade(of layer: Int) -> UInt64 {
        copies.withElement(layer) { count in count.load(ordering: .relaxed) }
    }
}

/// A stored attachment, as the C side holds it (`void *`, the file's
/// private_data).
struct AttachmentHandle {
    let pointer: UnsafeMutablePointer<OverlayAttachment>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    // SAFETY: `raw` is what `store` returned, given back by the C glue from
    // the file's private_data: the file owns the attachment, so it is alive
    // for as long as the caller holds the file (or, for the registry's
    // entries, the registry lock: the release unregisters it first).
    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: OverlayAttachment.self)
    }

    /// The attachment a file was opened for, if it is a create request's
    /// file of this module (a file opened through /proc/PID/map_files has
    /// none).
    init?(of info: FileInfo) {
        guard let raw = info.attachment else { return nil }
        self.init(raw)
    }

    static func store(_ attachment: consuming OverlayAttachment) throws(OverlayError) -> AttachmentHandle {
        AttachmentHandle(try KernelBox.store(attachment))
    }

    /// Whether the attachment's id is still registered (not cleaned up).
    var isRegistered: Bool {
        let id = pointer.pointee.id
        return ModuleState.current.pointee.registry.withLock { registry in
            registry.contains(id: id, handle: raw)
        }
    }

    func destroy() {
        KernelBox.destroy(pointer)
    }

    /// The attachment's file was released (its mappings and descriptors are
    /// gone): unregisters its id if cleanup did not, and frees it.
    func release() {
        let id = pointer.pointee.id
        let wasRegistered = ModuleState.current.pointee.registry.withLock { registry in
            registry.countAttachmentFile(-1)
            return registry.remove(id: id, handle: raw)
        }
        pointer.pointee.overlay.pointee.detach()
        Log.debug(wasRegistered ? "request's mapping gone without cleanup" : "request's mapping gone")
        destroy()
    }
}
