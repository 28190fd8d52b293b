// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// What a create request maps over its base mapping: the stack it composed,
/// split where the restore's own layers begin (`SplitStack`).
///
/// - The lower stack (the shared layers) is a `LowerLayers`, shared with
///   every overlay whose lower stack is the same, and served from one page
///   cache: the base file's own when the base alone is beneath, else the
///   lower inode's. The overlay's files map that page cache, so many
///   restores of one base, each with its own diff, hold each base page once.
/// - The pages the own layers serve (`own`) are each mapping's own: a fault
///   on one makes it a private copy of the own layer's page, through the
///   kernel's own copy-on-write path (`OverlayFault`), so it is an
///   anonymous page of the mapping like any private write.
///
/// Requests, from any processes, whose stacks are the same (the same lower
/// stack and the same own layers and table) map one overlay (see
/// `OverlaySharing`); each has its own open file of it (an
/// `OverlayAttachment`, with the request's id). An overlay lives in memory
/// its inode owns: the inode's eviction, once its files are gone, releases
/// it.
struct Overlay: ~Copyable {
    /// The lower stack's inode, referenced (it owns `lower`).
    let lowerInode: LowerInode
    let lower: LowerHandle
    /// The pages the own layers serve: layer i (from 1) is `ownLayers`'s
    /// layer i - 1. Pages it does not cover show the lower stack.
    let own: SegmentTable
    let ownLayers: LayerList
    /// The overlay's size: the largest of the lower stack's and its own layers'.
    let size: Int64
    /// A number for the listing, so that it can show which requests map
    /// the same overlay (never an address).
    let serial: UInt64
    /// The fingerprint of its stack, by which requests find it to share it.
    let fingerprint: UInt64
    /// Whether the sharing index lists it (under the sharing lock).
    var indexed = false
    /// Its inode (set once it exists; it owns the overlay, so it outlives it).
    var inode: InodeReference? = nil
    /// The create requests' files of it that are still open.
    private let attachments = Atomic<Int>(0)
    /// Own pages read ahead of their faults (with an own page's fault that
    /// read its run); none where there are no own pages.
    private let ownReadAhead: KernelMutex<ReadAheadPages<LayerPage, FileStamp>>?

    init(lowerInode: consuming LowerInode, lower: LowerHandle,
         own ownStack: consuming ComposedStack<StackSlot<KernelFile>>, serial: UInt64) throws(OverlayError) {
        let readAhead: KernelMutex<ReadAheadPages<LayerPage, FileStamp>>?
        if ownStack.table.count > 0 {
            readAhead = try KernelMutex(.ownReadAhead, guarding: try ReadAheadPages(capacity: Overlay.readAheadCapacity))
        } else {
            readAhead = nil
        }
        var fingerprint = StackFingerprint()
        fingerprint.combine(lower.pointer.pointee.fingerprint)
        fingerprint.combine(ownStack.fingerprint)
        var files = try LayerBuffer<KernelFile>(capacity: ownStack.layers.count)
        ownStack.layers.drain { _, slot in
            switch consume slot {
            case .below: break
            case .layer(let file): files.append(file)
            }
        }
        ownLayers = try LayerList(files)
        own = ownStack.table
        size = Swift.max(lower.pointer.pointee.size, ownLayers.largest.size)
        self.lowerInode = lowerInode
        self.lower = lower
        self.serial = serial
        self.fingerprint = fingerprint.value
        ownReadAhead = readAhead
    }

    /// Counts a create request's file opened (`attach`) or released.
    func attach() { attachments.add(1, ordering: .relaxed) }
    func detach() { attachments.subtract(1, ordering: .relaxed) }
    /// Create requests whose files are open, cleaned up or not.
    var attachedCount: Int { attachments.load(ordering: .relaxed) }


    /// Whether lower layer `layer` is the top layer at some page the own
    /// layers leave to the lower stack (the base always counts).
    func showsLowerLayer(_ layer: LayerIndex) -> Bool {
        if layer == Layers.base { return true }
        for segment in lower.pointer.pointee.segments.segments where segment.layer == layer {
            if !own.coversAll(segment.first...segment.last) { return true }
        }
        return false
    }

    /// Whether a layer, shared or own, may not be executed: then neither
    /// may the overlay (its mapping refuses PROT_EXEC).
    var forbidsExecution: Bool {
        ownLayers.forbidsExecution || lower.pointer.pointee.layers.forbidsExecution
    }

    /// Whether any page is the restore's own.
    var hasOwnPages: Bool { own.count > 0 }

    /// Own pages an overlay keeps read ahead at most: two runs' worth, so
    /// that faults going through two runs at once both find theirs (64
    /// KiB a run; a page nobody faults on stays until the overlay goes or
    /// newer pages take its place).
    static var readAheadCapacity: Int { 2 * LayerPage.runLimit }

    /// Calls `body` with the own pages read ahead, locked (nil: the overlay
    /// has no own pages). Never held across I/O.
    func withOwnReadAhead<Result: ~Copyable>(
        _ body: (inout ReadAheadPages<LayerPage, FileStamp>) -> Result
    ) -> Result? {
        switch ownReadAhead {
        case .some(let lock): return lock.withLock(body)
        case .none: return nil
        }
    }

    /// The page cache the overlay's files map.
    var mapping: PageCacheMapping { lower.pointer.pointee.mapping(lowerInode) }

    /// Pages of the lower page cache at the overlay's pages that the lower
    /// stack's layer `layer` serves (nil: any of its layers), not counting
    /// the overlay's own pages.
    func cachedLowerPages(servedBy layer: LayerIndex? = nil) -> UInt64 {
        let pages = UInt64(Swift.max(size, 0) + 4095) >> pageShift
        guard pages > 0 else { return 0 }
        let cache = mapping
        let lower = self.lower.pointer
        var cached: UInt64 = 0
        own.forEachGap(0, pages - 1) { first, last in
            guard let layer else {
                cached += cache.cachedPages(first, last)
                return
            }
            for run in lower.pointee.segments.plan(first: first, count: last - first + 1) where run.layer == layer {
                cached += cache.cachedPages(run.first, run.first + run.count - 1)
            }
        }
        return cached
    }

    /// The own layer that serves `page`, if one does (as `withOwnLayer`'s index).
    func ownLayer(forPage page: UInt64) -> LayerIndex? {
        let layer = own.layer(forPage: page)
        return layer == Layers.base ? nil : layer
    }

    /// Calls `body` with own layer `layer`'s file (`layer` from `ownLayer`).
    func withOwnFile<Result: ~Copyable>(_ layer: LayerIndex, _ body: (borrowing KernelFile) -> Result) -> Result {
        ownLayers.withFile(layer - 1, body)
    }

    /// The stack the overlay shows, with references of its own to every
    /// layer file: what a request that lays more layers on it starts from.
    func stack() throws(OverlayError) -> SplitStack<KernelFile> {
        try SplitStack(lower: try lower.pointer.pointee.stack(), ownLayers: try ownLayers.retainedFiles(),
                       ownTable: own, pages: UInt64(size + 4095) >> pageShift)
    }

    /// Lays `pages` of the overlay (as a layer of another request) on
    /// `stack`: its lower stack and its own layers, cut to those pages.
    func lay(_ pages: borrowing SegmentTable, on stack: inout SplitStack<KernelFile>,
             as role: LayerRole) throws(OverlayError) {
        var flat = try lower.pointer.pointee.stack()
        try flat.lay(own, over: try ownLayers.retainedFiles())
        let composed = try flat.finish()
        let table = composed.table
        try stack.lay(pages, ofStack: composed.layers, table: table, as: role)
    }
}

/// A stored overlay, as the C side holds it (`void *`, the overlay inode's
/// i_private).
struct OverlayHandle {
    let pointer: UnsafeMutablePointer<Overlay>

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    // SAFETY: `raw` is what `store` returned, given back by the C glue from
    // the overlay inode's i_private: the inode owns the overlay, so it is alive
    // for as long as the caller holds the inode, one of its files, or a
    // mapping of one (a fault).
    init(_ raw: UnsafeMutableRawPointer) {
        pointer = raw.assumingMemoryBound(to: Overlay.self)
    }

    /// The overlay a file maps, if it is an overlay file of this module.
    init?(mappedBy info: FileInfo) {
        guard let raw = info.overlay else { return nil }
        self.init(raw)
    }

    static func store(_ overlay: consuming Overlay) throws(OverlayError) -> OverlayHandle {
        OverlayHandle(try KernelBox.store(overlay))
    }

    /// Drops the lower stack's inode, the own layers and the table, then
    /// frees the memory.
    func destroy() {
        KernelBox.destroy(pointer)
    }
}
