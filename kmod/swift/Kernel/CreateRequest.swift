// SPDX-License-Identifier: GPL-2.0-or-later

/// IOCTL_MEM_OVERLAY_REQ_CMD: lays the request's segments of the overlay
/// file over the base mapping.
///
/// The base mapping is replaced, at the same address, size, protection and
/// file offset, by a private mapping of a new open file of an overlay
/// inode whose pages come from the overlay mapping's file inside the
/// segments and from what the base mapping showed everywhere else. When the
/// base mapping already shows an overlay whose id was cleaned up, the new
/// overlay takes over its layers and lays the new one on top: stacks stay
/// one level deep, however many requests built them.
///
/// Exact under concurrency: the check that the mapping is not overlaid
/// already and its replacement happen under the process's
/// `AddressSpaceLock`, so of concurrent requests on one mapping exactly one
/// succeeds and the others get EEXIST; a request writes to user memory only
/// once it has won. Every check happens before anything changes: a failed
/// request leaves the process as it was.
enum CreateRequest {
    static func handle(userRequest: UserPointer) throws(OverlayError) {
        var request = mem_overlay_req()
        try userRequest.read(into: &request)

        // User memory is read before the lock: a request whose memory is
        // slow to fault in (userfaultfd, FUSE) holds nobody up.
        let segments = try SegmentTable.copied(from: UserPointer(UnsafeMutableRawPointer(request.segments)),
                                               count: Int(request.segments_size))

        try AddressSpaceLock.withLock { () throws(OverlayError) in
            let target = try OverlayTarget.resolve(base: UInt64(request.base_addr),
                                                   overlay: UInt64(request.overlay_addr))
            var stack = try LayerStack(showing: target.base.file.file)
            try stack.lay(segments, of: target.overlay.file)
            let overlay = try stack.overlay(serial: OverlayDirectory.nextSerial())
            Log.debug("composed overlay, segments", Int64(overlay.segments.count))
            try OverlayPublication.publish(overlay, over: target.base.mapping, userID: userRequest,
                                           originalID: request.id)
        }
    }
}

/// The base mapping and the layer a v1 request names, checked and
/// referenced under the mmap lock.
struct OverlayTarget: ~Copyable {
    let base: BaseTarget
    let overlay: LayerFile

    static func resolve(base baseAddress: UInt64, overlay overlayAddress: UInt64) throws(OverlayError) -> OverlayTarget {
        try ProcessMapping.withLock { () throws(OverlayError) -> OverlayTarget in
            let base = try BaseTarget.resolve(at: baseAddress)
            guard let overlayMapping = ProcessMapping.containing(overlayAddress),
                  let overlayFile = overlayMapping.file,
                  !overlayMapping.flags.contains(.special),
                  LayerFile.describe(overlayFile).readable_regular
            else { throw .overlayNotFileMapping }
            return OverlayTarget(base: base, overlay: LayerFile(retaining: overlayFile))
        }
    }
}

/// The mapping a request overlays, and its file, referenced.
struct BaseTarget: ~Copyable {
    let mapping: ProcessMapping
    let file: LayerFile

    /// The private file mapping at `address`, if a request may overlay it:
    /// not overlaid by a request whose id is registered (EEXIST), and
    /// holding no private writes (EBUSY). Call with the mmap lock held.
    static func resolve(at address: UInt64) throws(OverlayError) -> BaseTarget {
        guard let mapping = ProcessMapping.containing(address),
              let baseFile = mapping.file,
              !mapping.flags.contains(.shared), !mapping.flags.contains(.special),
              LayerFile.describe(baseFile).readable_regular
        else { throw .baseNotPrivateFileMapping }
        if let shown = AttachmentHandle(of: baseFile), shown.isRegistered { throw .alreadyOverlaid }
        guard !mapping.flags.contains(.privatePages) else { throw .mappingHasPrivateWrites }
        return BaseTarget(mapping: mapping, file: LayerFile(retaining: baseFile))
    }
}
