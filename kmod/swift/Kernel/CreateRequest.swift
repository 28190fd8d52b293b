// SPDX-License-Identifier: GPL-2.0-or-later

/// IOCTL_MEM_OVERLAY_REQ_CMD: lays the request's segments of the overlay
/// file over the base mapping.
///
/// The base mapping is replaced, at the same address, size, protection and
/// file offset, by a private mapping of a new overlay file whose pages come
/// from the overlay mapping's file inside the segments and from what the
/// base mapping showed everywhere else. When the base mapping already shows
/// an overlay whose id was cleaned up, the new overlay takes over its layers
/// and lays the new one on top: stacks stay one level deep, however many
/// requests built them. Every check happens before anything changes: a
/// failed request leaves the process as it was.
enum CreateRequest {
    static func handle(userRequest: UserPointer) throws(OverlayError) {
        var request = mem_overlay_req()
        try userRequest.read(into: &request)

        let requested = Int(request.segments_size)
        try SegmentTable.checkRequested(count: requested)
        let buffer = try PlatformBuffer<PageRange>(capacity: requested, chargedToCaller: true)
        try UserPointer(UnsafeMutableRawPointer(request.segments))
            .read(into: buffer.base, byteCount: requested * MemoryLayout<PageRange>.stride)
        let segments = try SegmentTable(request: buffer, requested: requested, layer: 1)

        let target = try Target.resolve(base: UInt64(request.base_addr),
                                        overlay: UInt64(request.overlay_addr))
        let mapping = target.mapping
        let handle = try OverlayHandle.store(try compose(segments, onto: target))
        Log.debug("composed overlay, segments", Int64(handle.pointer.pointee.segments.count))

        var error: Int32 = 0
        let overlay = handle.pointer
        guard let file = bs_overlay_file_create(handle.raw, overlay.pointee.size,
                                                overlay.pointee.readaheadPages, &error) else {
            handle.destroy()
            throw .kernel(errno: -error)
        }
        // The inode owns the overlay now; dropping our reference to the file
        // (the mapping takes its own) releases everything on any failure.
        let overlayFile = LayerFile(adopting: file)
        overlay.pointee.inode = bs_file_inode(file)
        try register(handle)
        do {
            try publishID(overlay.pointee.id, to: userRequest, original: request)
            try mapping.replace(with: overlayFile.file)
        } catch {
            restoreID(request, to: userRequest)
            let id = overlay.pointee.id
            OverlayDirectory.withLock { registry in registry.remove(id: id, handle: handle.raw) }
            throw error
        }
        Log.debug("overlay created, layers", Int64(overlay.pointee.layers.count))
    }

    /// The base mapping and the layers, checked and referenced under the
    /// mmap lock.
    private struct Target: ~Copyable {
        let mapping: ProcessMapping
        let base: LayerFile
        let overlay: LayerFile

        static func resolve(base baseAddress: UInt64, overlay overlayAddress: UInt64) throws(OverlayError) -> Target {
            try ProcessMapping.withLock { () throws(OverlayError) -> Target in
                guard let mapping = ProcessMapping.containing(baseAddress),
                      let baseFile = mapping.file,
                      !mapping.flags.contains(.shared), !mapping.flags.contains(.special),
                      LayerFile.describe(baseFile).readable_regular
                else { throw .baseNotPrivateFileMapping }
                guard let overlayMapping = ProcessMapping.containing(overlayAddress),
                      let overlayFile = overlayMapping.file,
                      !overlayMapping.flags.contains(.special),
                      LayerFile.describe(overlayFile).readable_regular
                else { throw .overlayNotFileMapping }
                if let shown = OverlayHandle(servedBy: baseFile), isRegistered(shown) {
                    throw .alreadyOverlaid
                }
                guard !mapping.flags.contains(.privatePages) else { throw .mappingHasPrivateWrites }
                return Target(mapping: mapping, base: LayerFile(retaining: baseFile),
                              overlay: LayerFile(retaining: overlayFile))
            }
        }

        /// Whether the overlay a mapping shows still has its id registered
        /// (after cleanup, a new request may stack on it).
        private static func isRegistered(_ handle: OverlayHandle) -> Bool {
            let id = handle.pointer.pointee.id
            return OverlayDirectory.withLock { registry in registry.contains(id: id, handle: handle.raw) }
        }
    }

    /// The new overlay: the request's segments served by the overlay file,
    /// laid over the base file, or over the layers of the overlay the base
    /// mapping shows (kept alive by `target.base` meanwhile). An overlay file
    /// that already is one of those layers (the same open file, as when a
    /// process lays several requests from one mapping) serves as that layer;
    /// layers that no longer serve any page are dropped.
    private static func compose(_ request: consuming SegmentTable, onto target: consuming Target) throws(OverlayError) -> Overlay {
        var segments = request
        var layers: LayerList
        if let lower = OverlayHandle(servedBy: target.base.file)?.pointer {
            let lowerLayers = lower.pointee.layers.count
            let existing = lower.pointee.layers.index(of: target.overlay.file)
            let newLayer = existing ?? lowerLayers
            guard newLayer < Layers.maximumCount else { throw .tooManyLayers }
            segments.assignAll(to: LayerIndex(newLayer))
            var stacked = try SegmentTable(laying: segments, over: lower.pointee.segments)
            let used = stacked.usedLayers
            let renumbering = LayerRenumbering(keeping: used)
            stacked.renumberLayers(renumbering)
            layers = try LayerList(capacity: renumbering.count)
            for layer in 0..<lowerLayers where used.contains(LayerIndex(layer)) {
                layers.append(LayerFile(retaining: lower.pointee.layers.file(LayerIndex(layer))))
            }
            if existing == nil && used.contains(LayerIndex(newLayer)) { layers.append(target.overlay) }
            segments = stacked
        } else {
            layers = try LayerList(capacity: 2)
            layers.append(target.base)
            layers.append(target.overlay)
        }
        let depth = try depth(of: layers)
        return Overlay(id: randomID(), owner: CurrentProcess.owner, segments: segments,
                       layers: layers, depth: depth)
    }

    /// 1 plus the deepest layer's depth, if within `Overlay.maximumDepth`.
    private static func depth(of layers: borrowing LayerList) throws(OverlayError) -> Int {
        var deepest = 0
        for layer in 0..<layers.count {
            if let nested = OverlayHandle(servedBy: layers.file(LayerIndex(layer))) {
                deepest = Swift.max(deepest, nested.pointer.pointee.depth)
            }
        }
        guard deepest < Overlay.maximumDepth else { throw .nestedTooDeep }
        return deepest + 1
    }

    /// Registers the overlay under its id, drawing a new id in the
    /// (astronomically unlikely) case that it is taken.
    private static func register(_ handle: OverlayHandle) throws(OverlayError) {
        try OverlayDirectory.withLock { (registry: inout OverlayRegistry) throws(OverlayError) in
            let overlay = handle.pointer
            while true {
                do throws(OverlayError) {
                    try registry.insert(.init(id: overlay.pointee.id, owner: overlay.pointee.owner,
                                              handle: handle.raw))
                    return
                } catch .alreadyOverlaid {
                    overlay.pointee.id = randomID()
                }
            }
        }
    }

    private static func randomID() -> OverlayID {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { bs_random_bytes($0.baseAddress!, $0.count) }
        return OverlayID(high: words.0, low: words.1)
    }

    /// Writes the id into the user's request (before the mapping changes, so
    /// that an unwritable request changes nothing).
    private static func publishID(_ id: OverlayID, to user: UserPointer,
                                  original: mem_overlay_req) throws(OverlayError) {
        var updated = original
        withUnsafeMutableBytes(of: &updated.id) { id.write(to: $0) }
        try withUnsafeBytes(of: &updated.id) { (bytes) throws(OverlayError) in
            try user.write(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }

    /// Puts back the id bytes the user passed in, after a late failure.
    private static func restoreID(_ original: mem_overlay_req, to user: UserPointer) {
        var original = original
        withUnsafeBytes(of: &original.id) { bytes in
            try? user.write(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }
}
