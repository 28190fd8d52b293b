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
            let target = try CurrentAddressSpace.withMappingsLocked {
                (mappings: borrowing MappingsReadGuard) throws(OverlayError) -> Target in
                let base = try BaseTarget.resolve(at: UInt64(request.base_addr), in: mappings)
                let layer = try mappings.withMapping(containing: UInt64(request.overlay_addr)) {
                    (mapping: borrowing ProcessMapping) throws(OverlayError) -> KernelFile in
                    guard !mapping.range.flags.contains(.special),
                          let info = mapping.fileInfo, info.isReadableRegular,
                          let file = mapping.retainedFile()
                    else { throw .overlayNotFileMapping }
                    return file
                }
                guard let layer else { throw .overlayNotFileMapping }
                return Target(base: base, layer: layer)
            }
            let base = target.base
            var stack = try base.shownStack()
            // The request's one layer is its top: the restore's own by default.
            try stack.lay(segments, ofFile: target.layer, as: .ownByDefault)
            let owner = CurrentProcess.owner
            _ = try OverlayPublication.publish(try stack.finish(), over: base.range,
                                           for: RequestOrigin(id: IDDestination(address: userRequest.address),
                                                              originalID: request.id, owner: owner,
                                                              targetProcessID: owner.processID))
        }
    }
}

/// What a v1 request names: the base mapping, and the overlay mapping's file.
private struct Target: ~Copyable {
    let base: BaseTarget
    let layer: KernelFile
}

/// The mapping a request overlays: where it lies, and its file, referenced.
struct BaseTarget: ~Copyable {
    let range: MappingRange
    let file: KernelFile

    /// The private file mapping at `address`, if a request may overlay it:
    /// not overlaid by a request whose id is registered (EEXIST), and
    /// holding no private writes (EBUSY).
    static func resolve(at address: UInt64, in mappings: borrowing MappingsReadGuard) throws(OverlayError) -> BaseTarget {
        let target = try mappings.withMapping(containing: address) {
            (mapping: borrowing ProcessMapping) throws(OverlayError) -> BaseTarget in
            guard !mapping.range.flags.contains(.shared), !mapping.range.flags.contains(.special),
                  let info = mapping.fileInfo, info.isReadableRegular,
                  let file = mapping.retainedFile()
            else { throw .baseNotPrivateFileMapping }
            if let shown = AttachmentHandle(of: info), shown.isRegistered { throw .alreadyOverlaid }
            if mapping.range.flags.contains(.privatePages) {
                // An overlay's mapping holds private copies of its own pages:
                // only those that differ are writes.
                guard let shown = OverlayHandle(mappedBy: info),
                      !OverlayPrivateWrites.exist(in: mapping.range, showing: shown, in: mappings)
                else { throw .mappingHasPrivateWrites }
            }
            return BaseTarget(range: mapping.range, file: file)
        }
        guard let target else { throw .baseNotPrivateFileMapping }
        return target
    }

    /// The stack the mapping shows: an overlay's, or its file alone.
    func shownStack() throws(OverlayError) -> SplitStack<KernelFile> {
        if let shown = OverlayHandle(mappedBy: file.info) { return try shown.pointer.pointee.stack() }
        return try SplitStack(lower: try LayerStack(base: KernelFile(retaining: file)), pages: file.stackPages)
    }
}

extension SplitStack<KernelFile> {
    /// Lays `pages` of `file` on top, as own or shared layers: a plain file
    /// as one layer, an overlay's file as its stack cut to those pages (so reads
    /// never nest).
    mutating func lay(_ pages: borrowing SegmentTable, ofFile file: consuming KernelFile,
                      as role: LayerRole) throws(OverlayError) {
        if let nested = OverlayHandle(mappedBy: file.info) {
            // `file` holds the overlay's inode, so the overlay is alive meanwhile.
            try nested.pointer.pointee.lay(pages, on: &self, as: role)
        } else {
            try lay(pages, of: file, as: role)
        }
    }
}
