// SPDX-License-Identifier: GPL-2.0-or-later

/// IOCTL_MEM_OVERLAY_REQ_CMD: lays the request's segments of the overlay
/// file over the base mapping.
///
/// The base mapping is replaced, at the same address, size, protection and
/// file offset, by a private mapping of a new overlay file whose pages come
/// from the base mapping's file outside the segments and from the overlay
/// mapping's file inside them. Every check happens before anything changes:
/// a failed request leaves the process as it was.
enum CreateRequest {
    static func handle(userRequest: UserPointer) throws(OverlayError) {
        var request = mem_overlay_req()
        try userRequest.read(into: &request)

        let requested = Int(request.segments_size)
        try SegmentTable.checkRequested(count: requested)
        let buffer = try PlatformBuffer<PageRange>(capacity: requested, chargedToCaller: true)
        try UserPointer(UnsafeMutableRawPointer(request.segments))
            .read(into: buffer.base, byteCount: requested * MemoryLayout<PageRange>.stride)
        let segments = try SegmentTable(normalizing: buffer, requested: requested)
        let mergedSegments = segments.count

        let target = try Target.resolve(base: UInt64(request.base_addr),
                                        overlay: UInt64(request.overlay_addr))
        let mapping = target.mapping
        let readahead = Swift.max(target.base.readaheadPages, target.overlay.readaheadPages)
        let handle = try OverlayHandle.store(
            Overlay(id: randomID(), owner: CurrentProcess.owner, segments: segments,
                    base: target.base, overlay: target.overlay))

        var error: Int32 = 0
        guard let file = bs_overlay_file_create(handle.raw, handle.pointer.pointee.size,
                                                readahead, &error) else {
            handle.destroy()
            throw .kernel(errno: -error)
        }
        // The inode owns the overlay now; dropping our reference to the file
        // (the mapping takes its own) releases everything on any failure.
        let overlayFile = LayerFile(adopting: file)
        try register(handle)
        do {
            try publishID(of: handle, to: userRequest, original: request)
            try ProcessMapping.mapPrivateFixed(overlayFile.file, start: mapping.start,
                                               length: mapping.length, flags: mapping.flags,
                                               pageOffset: mapping.pageOffset)
        } catch {
            restoreID(request, to: userRequest)
            let id = handle.pointer.pointee.id
            OverlayDirectory.withLock { registry in registry.remove(id: id, handle: handle.raw) }
            throw error
        }
        Log.debug("created overlay, segments:", Int64(mergedSegments))
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
                      bs_file_is_readable_regular(baseFile)
                else { throw .baseNotPrivateFileMapping }
                guard let overlayMapping = ProcessMapping.containing(overlayAddress),
                      let overlayFile = overlayMapping.file,
                      !overlayMapping.flags.contains(.special),
                      bs_file_is_readable_regular(overlayFile)
                else { throw .overlayNotFileMapping }
                if let shown = bs_file_overlay(baseFile), isRegistered(OverlayHandle(shown)) {
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

    /// Registers the overlay under its id, drawing a new id in the
    /// (astronomically unlikely) case that it is taken.
    private static func register(_ handle: OverlayHandle) throws(OverlayError) {
        try OverlayDirectory.withLock { (registry: inout OverlayRegistry) throws(OverlayError) in
            while true {
                let overlay = handle.pointer
                do throws(OverlayError) {
                    try registry.insert(.init(id: overlay.pointee.id, owner: overlay.pointee.owner,
                                              handle: handle.raw, segments: overlay.pointee.segments.count))
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
    private static func publishID(of handle: OverlayHandle, to user: UserPointer,
                                  original: mem_overlay_req) throws(OverlayError) {
        var updated = original
        withUnsafeMutableBytes(of: &updated.id) { handle.pointer.pointee.id.write(to: $0) }
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
