// SPDX-License-Identifier: GPL-2.0-or-later

/// The last steps of a create request, once its stack is composed: the
/// lower stack's overlay (an existing one with the same stack, or a new
/// one), the overlay over it with the request's own layers, an open file of
/// the overlay for the request, the id registered and written back, and the
/// base mapping replaced by a mapping of that file. Called under the
/// process's `AddressSpaceLock`, after every check: on any failure here the
/// id is unregistered, the user's id bytes are put back and the files are
/// dropped, so the process is left as it was.
enum OverlayPublication {
    static func publish(_ stack: consuming SplitComposition<KernelFile>, over range: MappingRange,
                        for origin: borrowing RequestOrigin) throws(OverlayError) -> PublishedOverlay {
        let (lowerSerial, overlaySerial) = ModuleState.current.pointee.registry.withLock { registry in
            (registry.nextSerial(), registry.nextSerial())
        }
        let underOwnPages = stack.own.table.count > 0
        let lower = try OverlaySharing.inode(for: try LowerLayers(stack.lower, underOwnPages: underOwnPages,
                                                                  serial: lowerSerial))
        let published = try OverlaySharing.inode(
            for: try Overlay(lowerInode: lower.inode, lower: lower.lower, own: stack.own, serial: overlaySerial))
        let overlay = published.overlay
        let inode = published.inode
        Log.debug("overlay composed, own segments", Int64(overlay.pointer.pointee.own.count))
        // An executable mapping may show only layers that may be executed
        // (refused here, before the mapping is touched: the overlay file's
        // ->mmap would refuse it too, but after MAP_FIXED took the range).
        if range.flags.contains(.execute) && overlay.pointer.pointee.forbidsExecution {
            throw .kernel(errno: EPERM)
        }

        let attachment = try AttachmentHandle.store(
            try OverlayAttachment(id: OverlayID.random(), owner: origin.owner, targetProcessID: origin.targetProcessID,
                                  overlay: overlay.pointer))
        let file: KernelFile
        do throws(OverlayError) {
            file = try inode.openFile(for: attachment.raw, mapping: overlay.pointer.pointee.mapping,
                                      readaheadPages: overlay.pointer.pointee.lower.pointer.pointee.overlayReadaheadPages)
            // The overlay's inode owns the overlay; dropping this reference
            // (the file takes its own) releases a new one on any failure.
        } catch {
            attachment.destroy()
            throw error
        }
        // The file owns the attachment now; dropping this reference (the
        // mapping takes its own) releases it on any failure.
        overlay.pointer.pointee.attach()
        ModuleState.current.pointee.registry.withLock { registry in registry.countAttachmentFile(+1) }

        try register(attachment)
        do throws(OverlayError) {
            try write(attachment.pointer.pointee.id, to: origin.id)
            do throws(OverlayError) {
                try CurrentAddressSpace.mapPrivately(file, over: range)
            } catch {
                write(origin.originalID, to: origin.id)
                throw error
            }
        } catch {
            let id = attachment.pointer.pointee.id
            ModuleState.current.pointee.registry.withLock { registry in
                _ = registry.remove(id: id, handle: attachment.raw)
            }
            throw error
        }
        Log.debug("overlay created, own layers", Int64(overlay.pointer.pointee.ownLayers.count))
        return PublishedOverlay(file: file, overlay: overlay)
    }

    /// Registers the attachment under its id, drawing a new id in the
    /// (astronomically unlikely) case that it is taken.
    private static func register(_ attachment: AttachmentHandle) throws(OverlayError) {
        try ModuleState.current.pointee.registry.withLock { (registry: inout OverlayRegistry) throws(OverlayError) in
            while true {
                do throws(OverlayError) {
                    try registry.insert(.init(id: attachment.pointer.pointee.id,
                                              owner: attachment.pointer.pointee.owner, handle: attachment.raw))
                    return
                } catch .alreadyOverlaid {
                    attachment.pointer.pointee.id = OverlayID.random()
                }
            }
        }
    }

    /// Writes the id into the request's 16 id bytes.
    private static func write(_ id: OverlayID, to destination: borrowing IDDestination) throws(OverlayError) {
        var bytes: IDBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { id.write(to: $0) }
        try destination.write(bytes)
    }

    /// Puts back the id bytes the user passed in, after a late failure.
    private static func write(_ original: IDBytes, to destination: borrowing IDDestination) {
        try? destination.write(original)
    }
}

/// A request's overlay once its mapping shows it: the request's file,
/// referenced (it keeps the overlay alive whatever the process does with
/// the mapping meanwhile), and the overlay.
struct PublishedOverlay: ~Copyable {
    let file: KernelFile
    let overlay: OverlayHandle
}

/// Who a request is for: where its id goes, the bytes there before, the
/// process that owns the id, and the process whose mapping it overlays.
struct RequestOrigin: ~Copyable {
    let id: IDDestination
    let originalID: IDBytes
    let owner: OwnerToken
    let targetProcessID: UInt64
}

/// The 16 id bytes of a request struct in the caller's memory: written
/// from the caller's own context, or, for a request run in another
/// process's address space, through the caller's task.
struct IDDestination: ~Copyable {
    let address: UInt64
    let caller: CallerTask?

    init(address: UInt64, caller: consuming CallerTask? = nil) {
        self.address = address
        self.caller = caller
    }

    func write(_ bytes: IDBytes) throws(OverlayError) {
        var bytes = bytes
        try withUnsafeBytes(of: &bytes) { (raw) throws(OverlayError) in
            // Through the caller's task when there is one (borrowed, not consumed).
            let throughCaller: Void? = try caller?.write(from: raw.baseAddress!, byteCount: raw.count, to: address)
            if throughCaller == nil {
                try UserPointer(address).write(from: raw.baseAddress!, byteCount: raw.count)
            }
        }
    }
}

/// The 16 id bytes of a request struct (as C imports them).
typealias IDBytes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
