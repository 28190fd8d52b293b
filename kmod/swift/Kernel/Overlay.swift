// SPDX-License-Identifier: GPL-2.0-or-later

/// One overlay: what its page cache is filled from. It lives in kvmalloc'd
/// memory that the overlay's inode owns; the inode's eviction (its last
/// mapping or descriptor gone) releases it, so it outlives every read of
/// its page cache, and nothing else frees it.
struct Overlay: ~Copyable {
    /// The id the create request returned (registered until cleanup or
    /// release).
    var id: OverlayID
    let owner: OwnerToken
    let segments: SegmentTable
    let base: LayerFile
    let overlay: LayerFile

    /// The file that serves `layer`.
    func file(for layer: Layer) -> OpaquePointer {
        layer == .overlay ? overlay.file : base.file
    }

    /// The overlay file's size: the larger layer's. A page past its own
    /// layer's end reads as past end of file (SIGBUS), like any mapping.
    var size: Int64 { Swift.max(base.size, overlay.size) }
}

/// A stored overlay, as the C side holds it (`void *`). Only the create
/// request (before the inode exists or on its failure) and the inode's
/// release destroy one.
struct OverlayHandle {
    let pointer: UnsafeMutablePointer<Overlay>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: Overlay.self)
    }

    /// Moves `overlay` into new kernel memory.
    static func store(_ overlay: consuming Overlay) throws(OverlayError) -> OverlayHandle {
        guard let raw = platformAllocate(byteCount: MemoryLayout<Overlay>.size,
                                         chargedToCaller: true) else { throw .outOfMemory }
        let pointer = raw.bindMemory(to: Overlay.self, capacity: 1)
        pointer.initialize(to: overlay)
        return OverlayHandle(UnsafeMutableRawPointer(pointer))
    }

    /// Drops the layers and the segment table, then frees the memory.
    func destroy() {
        pointer.deinitialize(count: 1)
        platformFree(raw)
    }
}
