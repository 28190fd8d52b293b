// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// One overlay: an inode of the module's filesystem and what its page cache
/// is filled from. It lives in memory that the inode owns; the inode's
/// eviction (its last file gone) releases it, so it outlives every read of
/// its page cache, and nothing else frees it. The create requests that map
/// it each have an open file of the inode of their own (an
/// `OverlayAttachment`, with the request's id).
struct Overlay: ~Copyable {
    /// Which layer serves each page.
    let segments: SegmentTable
    /// The layer files, base first, each file once.
    let layers: LayerList
    /// A number for the listing, so that it can show which requests map
    /// the same overlay (never an address).
    let serial: UInt64
    /// The fingerprint of its stack (layer files and table), by which
    /// create requests find it to share it.
    let fingerprint: UInt64
    /// Whether the sharing index lists it (under the sharing lock).
    var indexed = false
    /// The files opened for create requests that are still open.
    private let attachments = Atomic<Int>(0)
    /// The overlay's inode (set once it exists; it owns the overlay, so it
    /// outlives it).
    var inode: InodeReference? = nil

    init(_ stack: consuming ComposedStack<KernelFile>, serial: UInt64) throws(OverlayError) {
        let fingerprint = stack.fingerprint
        segments = stack.table
        layers = try LayerList(stack.layers)
        self.serial = serial
        self.fingerprint = fingerprint
    }

    /// Counts a create request's file opened (`attach`) or released.
    func attach() { attachments.add(1, ordering: .relaxed) }
    func detach() { attachments.subtract(1, ordering: .relaxed) }
    /// Create requests whose files are open, cleaned up or not.
    var attachedCount: Int { attachments.load(ordering: .relaxed) }

    /// The overlay file's size: the largest layer's. A page past its own
    /// layer's end reads as past end of file (SIGBUS), like any mapping.
    var size: Int64 { layers.largest.size }

    /// The overlay file's readahead window: twice the largest of the
    /// layers', at most 2 MiB. A readahead batch costs one read per layer
    /// it touches, so with two layers interleaved each read is then as
    /// large as a plain mapping's (page_fault_benchmark in the guest, cold
    /// first touch of 16,384 pages: 2.5x to 1.5x the plain mapping's time at
    /// fragmentation 1, 3.4x to 1.4x at 10).
    var readaheadPages: UInt32 { Swift.min(layers.largest.readaheadPages * 2, 512) }

    /// The stack this overlay shows, with references of its own to every
    /// layer file: what a request that lays more layers on it starts from.
    func stack() throws(OverlayError) -> LayerStack<KernelFile> {
        try LayerStack(layers: try layers.retainedFiles(), table: segments)
    }
}

/// A stored overlay, as the C side holds it (`void *`, the inode's
/// i_private). Only the create request (before the inode exists) and the
/// inode's release destroy one.
struct OverlayHandle {
    let pointer: UnsafeMutablePointer<Overlay>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: Overlay.self)
    }

    /// The overlay a file serves, if it is an overlay file of this module.
    init?(servedBy info: FileInfo) {
        guard let raw = info.overlay else { return nil }
        self.init(raw)
    }

    /// Moves `overlay` into memory of its own.
    static func store(_ overlay: consuming Overlay) throws(OverlayError) -> OverlayHandle {
        OverlayHandle(try KernelBox.store(overlay))
    }

    /// Drops the layers and the segment table, then frees the memory.
    func destroy() {
        KernelBox.destroy(pointer)
    }
}
