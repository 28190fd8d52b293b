// SPDX-License-Identifier: GPL-2.0-or-later

/// IOCTL_MEM_OVERLAY_STACK_CMD (ABI v2): lays a whole chain of layer files,
/// named by descriptor, over the base mapping in one request.
///
/// Every layer is checked and its pages found (copied from the request, or
/// the file's data extents) before anything changes; then, under the
/// process's `AddressSpaceLock` as a v1 request, the layers are laid on
/// what the base mapping shows, lowest first, into one overlay with one
/// id, and the mapping is replaced once: it never shows part of the chain.
enum StackRequest {
    /// The size of the first version of `struct mem_overlay_stack_req`.
    static let firstVersionSize = Int(MEM_OVERLAY_STACK_REQ_SIZE_VER0)
    /// The most a caller's struct may be (as openat2 and clone3 allow).
    static let largestSize = 4096

    static func handle(userRequest: UserPointer) throws(OverlayError) {
        let request = try read(userRequest)
        guard request.flags == 0 else { throw .unknownFlags }
        guard request.layers_size > 0 else { throw .noLayers }
        guard request.layers_size <= UInt64(MEM_OVERLAY_MAX_LAYERS) else { throw .tooManyLayers }
        let layers = try RequestLayers.read(from: UserPointer(request.layers), count: Int(request.layers_size))

        try AddressSpaceLock.withLock { () throws(OverlayError) in
            let base = try ProcessMapping.withLock { () throws(OverlayError) in
                try BaseTarget.resolve(at: request.base_addr)
            }
            var stack = try LayerStack(showing: base.file.file)
            try layers.lay(on: &stack)
            let overlay = try stack.overlay(serial: OverlayDirectory.nextSerial())
            Log.debug("composed chain, layers", Int64(overlay.layers.count))
            try OverlayPublication.publish(overlay, over: base.mapping,
                                           userID: UserPointer(userRequest.address + idOffset),
                                           originalID: request.id)
        }
    }

    /// Where the id lies in the struct (after size, flags, base_addr,
    /// layers_size and layers).
    private static let idOffset: UInt64 = 32

    /// The caller's struct, by the extensible-struct rules: `size` at
    /// least the first version's (else EINVAL) and at most 4096 bytes, and
    /// zero past what the module knows (else E2BIG).
    private static func read(_ user: UserPointer) throws(OverlayError) -> mem_overlay_stack_req {
        var size: UInt32 = 0
        try user.read(into: &size)
        guard Int(size) >= firstVersionSize else { throw .requestTooSmall }
        guard Int(size) <= largestSize else { throw .unknownRequestFields }
        var request = mem_overlay_stack_req()
        try user.read(into: &request)
        let known = MemoryLayout<mem_overlay_stack_req>.size
        if Int(size) > known {
            switch bs_check_zeroed_user(UnsafeRawPointer(bitPattern: UInt(user.address) + UInt(known)),
                                        Int(size) - known) {
            case 1: break
            case 0: throw .unknownRequestFields
            default: throw .badAddress
            }
        }
        request.size = size
        return request
    }
}

/// The layers of a v2 request, each a referenced file and the pages it
/// serves, read and checked before anything changes.
struct RequestLayers: ~Copyable {
    private struct Layer: ~Copyable {
        let file: LayerFile
        let pages: SegmentTable
    }

    private let entries: UnsafeMutablePointer<Layer>
    private var count = 0

    private init(capacity: Int) throws(OverlayError) {
        guard let raw = platformAllocate(byteCount: capacity * MemoryLayout<Layer>.stride,
                                         chargedToCaller: true) else { throw .outOfMemory }
        entries = raw.bindMemory(to: Layer.self, capacity: capacity)
    }

    deinit {
        entries.deinitialize(count: count)
        platformFree(UnsafeMutableRawPointer(entries))
    }

    /// Reads `count` `struct mem_overlay_layer` at `user` and each layer's
    /// file and pages.
    static func read(from user: UserPointer, count: Int) throws(OverlayError) -> RequestLayers {
        var layers = try RequestLayers(capacity: count)
        let stride = UInt64(MemoryLayout<mem_overlay_layer>.stride)
        for index in 0..<count {
            var layer = mem_overlay_layer()
            try UserPointer(user.address + UInt64(index) * stride).read(into: &layer)
            guard layer.flags & ~MEM_OVERLAY_LAYER_DATA_EXTENTS == 0 else { throw .unknownFlags }
            let file = try open(layer.fd)
            let pages: SegmentTable
            let source: LayerFile
            if layer.flags & MEM_OVERLAY_LAYER_DATA_EXTENTS != 0 {
                // A private file of its own, so that seeking for the
                // extents moves no position the caller shares.
                var error: Int32 = 0
                guard let reopened = bs_file_reopen(file.file, &error) else { throw .kernel(errno: -error) }
                source = LayerFile(adopting: reopened)
                pages = try SegmentTable.dataExtents(of: source.file)
            } else {
                guard layer.segments_size <= UInt64(SegmentLimits.maxSegments) else { throw .tooManySegments }
                pages = try SegmentTable.copied(from: UserPointer(layer.segments), count: Int(layer.segments_size))
                source = file
            }
            (layers.entries + index).initialize(to: Layer(file: source, pages: pages))
            layers.count += 1
        }
        return layers
    }

    /// The file of descriptor `fd`, if it can be a layer.
    private static func open(_ fd: Int32) throws(OverlayError) -> LayerFile {
        guard let file = bs_fget(fd) else { throw .badDescriptor }
        let layer = LayerFile(adopting: file)
        let info = LayerFile.describe(layer.file)
        guard info.regular else { throw .layerNotRegularFile }
        guard info.open_for_reading else { throw .layerNotReadable }
        guard info.page_cache else { throw .layerNotRegularFile }
        return layer
    }

    /// Lays every layer on `stack`, lowest first.
    func lay(on stack: inout LayerStack) throws(OverlayError) {
        for index in 0..<count {
            try stack.lay(entries[index].pages, of: entries[index].file.file)
        }
    }
}
