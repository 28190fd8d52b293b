// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// The lower layers of overlays (see `Overlay`): the shared part of their
/// stacks, an inode of the module's filesystem, and what its page cache is
/// filled from. It lives in memory that the inode owns; the inode's eviction
/// (its last reference gone) releases it, so it outlives every read of its
/// page cache, and nothing else frees it. Each overlay that shows it holds
/// its inode.
///
/// Lower layers that are the base file alone, on a filesystem where that is
/// safe (`LowerPageCache`), are served from the base file's own page cache:
/// their overlays map that, and their inode's page cache stays empty.
struct LowerLayers: ~Copyable {
    /// Which layer serves each page.
    let segments: SegmentTable
    /// The layer files, base first, each file once.
    let layers: LayerList
    /// A number, unique while the module is loaded (never an address).
    let serial: UInt64
    /// The fingerprint of its stack (layer files and table), by which
    /// create requests find it to share it.
    let fingerprint: UInt64
    /// Whether the sharing index lists it. Written under the sharing lock;
    /// read there, and without it when its inode's last reference goes
    /// (`keepsUnused`): whoever takes it out of the index then takes a
    /// reference and drops it (`OverlaySharing.takeOutUnused`, a claim that
    /// finds it stale), so a stale read there cannot leave an unused stack
    /// behind outside the index.
    var indexed: Bool {
        get { indexedFlag.load(ordering: .relaxed) }
        nonmutating set { indexedFlag.store(newValue, ordering: .relaxed) }
    }
    private let indexedFlag = Atomic<Bool>(false)
    /// Whether it may stay, unused, for the next restore of its chain: a
    /// composed stack (the base file's own page cache stays anyway), all of
    /// whose layers are on block-device filesystems (a kept stack holds
    /// its layer files open, and FUSE or network mounts are the ones a user
    /// unmounts under a restore).
    let keepsWhenUnused: Bool
    /// The unused-stack sweep's marks (under the sharing lock): unused at
    /// the last sweep, and to be evicted by this one. A claim clears both.
    var unusedAtLastSweep = false
    var evictionDue = false
    /// Whether its overlays map the base file's page cache (else its own).
    let servesFromBaseFile: Bool
    /// Whether overlays with own pages map it (then its page cache holds
    /// single pages: see `LowerPageCache`). Part of its identity: such
    /// overlays share it only with each other.
    let underOwnPages: Bool
    /// Its inode (set once it exists; it owns the lower layers, so it
    /// outlives them).
    var inode: InodeReference? = nil

    init(_ stack: consuming ComposedStack<KernelFile>, underOwnPages: Bool, serial: UInt64) throws(OverlayError) {
        var fingerprint = StackFingerprint()
        fingerprint.combine(stack.fingerprint)
        fingerprint.combine(underOwnPages ? 1 : 0)
        let base = stack.layers.withElement(0) { base in (base.info.blockFilesystemMagic, base.info.hasLargeFolios) }
        servesFromBaseFile = LowerPageCache.isBaseFile(layerCount: stack.layers.count, segmentCount: stack.table.count,
                                                       filesystemMagic: base.0, baseHasLargeFolios: base.1,
                                                       underOwnPages: underOwnPages)
        self.underOwnPages = underOwnPages
        segments = stack.table
        layers = try LayerList(stack.layers)
        keepsWhenUnused = !servesFromBaseFile && layers.allOnBlockFilesystems
        self.serial = serial
        self.fingerprint = fingerprint.value
        overlayWindow.store(layersWindow, ordering: .relaxed)
    }

    /// Whether it stays, unused, when its inode's last reference goes: a
    /// stack requests may still find and share, that may be kept. Called
    /// under the inode's i_lock (no sleeping, no locks).
    var keepsUnused: Bool { keepsWhenUnused && indexed }

    /// The page cache its overlays map: the base file's, or its inode's.
    func mapping(_ inode: borrowing LowerInode) -> PageCacheMapping {
        servesFromBaseFile ? layers.withFile(Layers.base) { $0.mapping } : inode.mapping
    }

    /// The readahead window of its overlays' files, as the layer files of
    /// the latest request that made or shared it give it: a request's file
    /// follows its layers' disk's read_ahead_kb as of the request, as a new
    /// open of a plain file does, however long ago the stack was made (an
    /// unused one kept for the next restore, above all).
    var overlayReadaheadPages: UInt32 { overlayWindow.load(ordering: .relaxed) }
    private let overlayWindow = Atomic<UInt32>(0)

    /// The window its layer files give: the base file's, or twice the
    /// largest layer's (`readaheadPages`).
    private var layersWindow: UInt32 {
        servesFromBaseFile ? layers.withFile(Layers.base) { $0.info.readaheadPages } : readaheadPages
    }

    /// Takes the window of `request`, an equal stack of a new request's
    /// layer files, which shares this one.
    func adoptWindow(of request: borrowing LowerLayers) {
        overlayWindow.store(request.overlayReadaheadPages, ordering: .relaxed)
    }

    /// Whether its inode's page cache takes large folios: where every page
    /// of the stack lies inside the layer that serves it, so a large folio
    /// can always be filled whole (a layer truncated later zeroes such pages
    /// within a large folio: see bs_fill_copy), and no own pages lie above
    /// (see `LowerPageCache.singlePageFolios`).
    var takesLargeFolios: Bool {
        !LowerPageCache.singlePageFolios(underOwnPages: underOwnPages, everyPageInsideItsLayer: everyPageInsideItsLayer)
    }

    /// Whether every page of the stack lies inside the layer that serves it
    /// (the base as long as the stack, each segment inside its layer's file).
    private var everyPageInsideItsLayer: Bool {
        let stackPages = pageCount(ofFileBytes: size)
        guard layers.withFile(Layers.base, { pageCount(ofFileBytes: $0.info.size) }) >= stackPages else { return false }
        for segment in segments.segments {
            let layerPages = layers.withFile(segment.layer) { pageCount(ofFileBytes: $0.info.size) }
            if segment.last >= layerPages { return false }
        }
        return true
    }

    /// The size of the stack: the largest layer's. A page past its own
    /// layer's end reads as past end of file (SIGBUS), like any mapping.
    var size: Int64 { layers.largest.size }

    /// The readahead window of a lower inode's page cache: twice the largest
    /// of the layers', at most 2 MiB. A readahead batch costs one read per layer
    /// it touches, so with two layers interleaved each read is then as
    /// large as a plain mapping's (page_fault_benchmark in the guest, cold
    /// first touch of 16,384 pages: 2.5x to 1.5x the plain mapping's time at
    /// fragmentation 1, 3.4x to 1.4x at 10).
    var readaheadPages: UInt32 { Swift.min(layers.largest.readaheadPages * 2, 512) }

    /// The stack, with references of its own to every layer file: what a
    /// request that lays more layers on an overlay of it starts from.
    func stack() throws(OverlayError) -> LayerStack<KernelFile> {
        try LayerStack(layers: try layers.retainedFiles(), table: segments)
    }
}

/// A stored overlay, as the C side holds it (`void *`, the inode's
/// i_private). Only the create request (before the inode exists) and the
/// inode's release destroy one.
struct LowerHandle {
    let pointer: UnsafeMutablePointer<LowerLayers>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    // SAFETY: `raw` is what `store` returned, given back by the C glue from
    // the inode's i_private: the inode owns the overlay, so it is alive for
    // as long as the caller holds the inode or one of its files.
    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: LowerLayers.self)
    }

    /// Moves `overlay` into memory of its own.
    static func store(_ overlay: consuming LowerLayers) throws(OverlayError) -> LowerHandle {
        LowerHandle(try KernelBox.store(overlay))
    }

    /// Drops the layers and the segment table, then frees the memory.
    func destroy() {
        KernelBox.destroy(pointer)
    }
}
