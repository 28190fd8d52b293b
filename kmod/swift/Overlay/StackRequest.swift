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
    static func handle(userRequest: UserPointer) throws(OverlayError) {
        let request = try read(userRequest)
        try StackRequestRules.check(flags: request.flags, layerCount: request.layers_size)
        let remote = try StackRequestRules.namesProcess(flags: request.flags, pidfd: request.pidfd,
                                                        reserved: request.reserved)
        let layers = try RequestLayers.read(from: UserPointer(request.layers), count: Int(request.layers_size))
        let loadingSet = try LoadingSet.read(request)
        let idAddress = userRequest.address + UInt64(StackRequestRules.idOffset)
        let owner = CurrentProcess.owner
        guard remote else {
            try lay(layers, over: request.base_addr, loadingSet: loadingSet,
                    for: RequestOrigin(id: IDDestination(address: idAddress), originalID: request.id, owner: owner,
                                       targetProcessID: owner.processID))
            return
        }
        // Another process's mapping: the rule of process_vm_writev. The
        // kernel's own ptrace-attach check must pass (it runs with the
        // caller's filesystem ids), and the caller's real ids must be those
        // ids unless it has CAP_SYS_PTRACE.
        let target = try TargetProcess(pidfd: request.pidfd) { check throws(OverlayError) in
            try check.requireWritableMemory()
            guard check.callerFileIDsAreReal || check.callerMayTrace else { throw .mayNotWriteProcess }
        }
        var work = RemoteLaying(
            layers: layers, baseAddress: request.base_addr, loadingSet: loadingSet,
            origin: RequestOrigin(id: IDDestination(address: idAddress, caller: CallerTask()), originalID: request.id,
                                  owner: owner, targetProcessID: target.processID))
        target.run(&work)
        if let failure = work.failure { throw failure }
    }

    /// Lays `layers` on the mapping at `baseAddress` of the current address
    /// space (the caller's, or the target's in a remote request's worker),
    /// then starts reading the loading set's pages (and maps them, when it
    /// populates).
    static func lay(_ layers: borrowing RequestLayers, over baseAddress: UInt64, loadingSet: consuming LoadingSet?,
                    for origin: borrowing RequestOrigin) throws(OverlayError) {
        try AddressSpaceLock.withLock { () throws(OverlayError) in
            let base = try CurrentAddressSpace.withMappingsLocked {
                (mappings: borrowing MappingsReadGuard) throws(OverlayError) -> BaseTarget in
                try BaseTarget.resolve(at: baseAddress, in: mappings)
            }
            var stack = try base.shownStack()
            try layers.lay(on: &stack)
            let published = try OverlayPublication.publish(try stack.finish(), over: base.range, for: origin)
            // The request has succeeded: what follows only reads ahead.
            if let loadingSet = loadingSet.take() {
                loadingSet.prefetch(published)
                if loadingSet.populates { loadingSet.populate(base.range) }
            }
        }
    }

    /// The caller's struct, by the extensible-struct rules: the bytes it
    /// has of what the module knows (the rest reads as zero).
    private static func read(_ user: UserPointer) throws(OverlayError) -> mem_overlay_stack_req {
        var size: UInt32 = 0
        try user.read(into: &size)
        let known = MemoryLayout<mem_overlay_stack_req>.size
        let tail = try StackRequestRules.unknownTail(size: size, knownSize: known)
        var request = mem_overlay_stack_req()
        try withUnsafeMutableBytes(of: &request) { (bytes) throws(OverlayError) in
            try user.read(into: bytes.baseAddress!, byteCount: StackRequestRules.bytesToRead(size: size, knownSize: known))
        }
        if let tail {
            guard try UserPointer(user.address + UInt64(tail.lowerBound)).isZeroed(byteCount: tail.count) else {
                throw .unknownRequestFields
            }
        }
        request.size = size
        return request
    }
}

/// A v2 request's laying, run in the target process's address space.
private struct RemoteLaying: RemoteWork, ~Copyable {
    let layers: RequestLayers
    let baseAddress: UInt64
    var loadingSet: LoadingSet?
    let origin: RequestOrigin
    var failure: OverlayError? = nil

    mutating func run() {
        do throws(OverlayError) {
            try StackRequest.lay(layers, over: baseAddress, loadingSet: loadingSet.take(), for: origin)
        } catch {
            failure = error
        }
    }
}

/// The layers of a v2 request, each a referenced file and the pages it
/// serves, read and checked before anything changes.
struct RequestLayers: ~Copyable {
    private struct Layer: ~Copyable {
        let file: KernelFile
        let pages: SegmentTable
        /// Whether the restore asks for it as its own (`LayerRoles`).
        let role: LayerRole
    }

    private var entries: LayerBuffer<Layer>

    /// Reads `count` `struct mem_overlay_layer` at `user` and each layer's
    /// file and pages.
    static func read(from user: UserPointer, count: Int) throws(OverlayError) -> RequestLayers {
        var layers = RequestLayers(entries: try LayerBuffer(capacity: count))
        let stride = UInt64(MemoryLayout<mem_overlay_layer>.stride)
        for index in 0..<count {
            var layer = mem_overlay_layer()
            try UserPointer(user.address + UInt64(index) * stride).read(into: &layer)
            let byExtents = try StackRequestRules.isLaidByDataExtents(layerFlags: layer.flags)
            let role = LayerRoles.role(index: index, of: count, flags: layer.flags)
            let file = try open(layer.fd)
            if byExtents {
                // A private file of its own, so that seeking for the
                // extents moves no position the caller shares.
                let source = try file.reopenedForReading()
                let pages = try SegmentTable.dataExtents(of: source)
                layers.entries.append(Layer(file: source, pages: pages, role: role))
            } else {
                try StackRequestRules.check(segmentCount: layer.segments_size)
                let pages = try SegmentTable.copied(from: UserPointer(layer.segments), count: Int(layer.segments_size))
                layers.entries.append(Layer(file: file, pages: pages, role: role))
            }
        }
        return layers
    }

    /// The file of descriptor `fd`, if it can be a layer.
    private static func open(_ fd: Int32) throws(OverlayError) -> KernelFile {
        guard let file = KernelFile.ofDescriptor(fd) else { throw .badDescriptor }
        let info = file.info
        guard info.isRegular else { throw .layerNotRegularFile }
        guard info.isOpenForReading else { throw .layerNotReadable }
        guard info.hasPageCache else { throw .layerNotRegularFile }
        return file
    }

    /// Lays every layer on `stack`, lowest first.
    func lay(on stack: inout SplitStack<KernelFile>) throws(OverlayError) {
        for index in 0..<entries.count {
            try entries.withElement(index) { (layer: borrowing Layer) throws(OverlayError) in
                try stack.lay(layer.pages, ofFile: KernelFile(retaining: layer.file), as: layer.role)
            }
        }
    }
}
