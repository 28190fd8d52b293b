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
    /// Which layer serves each page.
    let segments: SegmentTable
    /// The layer files, base first.
    let layers: LayerList
    /// 1, plus the depth of the deepest layer that is itself an overlay file.
    let depth: Int
    /// The overlay file's inode (set once the file exists; the inode owns
    /// the overlay, so it outlives it).
    var inode: OpaquePointer? = nil

    /// Overlay files nested as layers deeper than this are refused: each
    /// level adds a page-cache read to the kernel stack of a fault.
    static let maximumDepth = 3

    /// The file that serves `layer`.
    func file(for layer: LayerIndex) -> OpaquePointer { layers.file(layer) }

    /// The overlay file's size: the largest layer's. A page past its own
    /// layer's end reads as past end of file (SIGBUS), like any mapping.
    var size: Int64 {
        var size: Int64 = 0
        for layer in 0..<layers.count {
            size = Swift.max(size, LayerFile.describe(layers.file(LayerIndex(layer))).size)
        }
        return size
    }

    /// The overlay file's readahead window: twice the largest of the
    /// layers', at most 2 MiB. A readahead batch costs one read per layer
    /// it touches, so with two layers interleaved each read is then as
    /// large as a plain mapping's (page_fault_benchmark in the guest, cold
    /// first touch of 16,384 pages: 2.5x to 1.5x the plain mapping's time at
    /// fragmentation 1, 3.4x to 1.4x at 10).
    var readaheadPages: UInt32 {
        var pages: UInt32 = 0
        for layer in 0..<layers.count {
            pages = Swift.max(pages, LayerFile.describe(layers.file(LayerIndex(layer))).readahead_pages)
        }
        return Swift.min(pages * 2, 512)
    }
}

/// A stored overlay, as the C side holds it (`void *`). Only the create
/// request (before the inode exists) and the inode's release destroy one.
struct OverlayHandle {
    let pointer: UnsafeMutablePointer<Overlay>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: Overlay.self)
    }

    /// The overlay `file` serves, if it is an overlay file of this module.
    init?(servedBy file: OpaquePointer) {
        guard let raw = LayerFile.describe(file).overlay else { return nil }
        self.init(raw)
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
