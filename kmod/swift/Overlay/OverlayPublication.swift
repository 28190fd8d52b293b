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
                        userID: UserPointer, originalID: IDBytes) throws(OverlayError) {
        let (lowerSerial, overlaySerial) = ModuleState.current.pointee.registry.withLock { registry in
            (registry.nextSerial(), registry.nextSerial())
        }
        let lower = try OverlaySharing.inode(for: try LowerLayers(stack.lower, serial: lowerSerial))
        let published = try OverlaySharing.inode(
            for: try Overlay(lowerInode: lower.inode, lower: lower.lower, own: stack.own, serial: overlaySerial))
        let overlay = published.overlay
        let inode = published.inode
        Log.debug("overlay composed, own segments", Int64(overlay.pointer.pointee.own.count))

        let attachment = try AttachmentHandle.store(
            try OverlayAttachment(id: OverlayID.random(), owner: CurrentProcess.owner, overlay: overlay.pointer))
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
            try write(attachment.pointer.pointee.id, to: userID)
            do throws(OverlayError) {
                try CurrentAddressSpace.mapPrivately(file, over: range)
            } catch {
                write(originalID, to: userID)
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
    private static func write(_ id: OverlayID, to user: UserPointer) throws(OverlayError) {
        var bytes: IDBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { id.write(to: $0) }
        try withUnsafeBytes(of: &bytes) { (raw) throws(OverlayError) in
            try user.write(from: raw.baseAddress!, byteCount: raw.count)
        }
    }

    /// Puts back the id bytes the user passed in, after a late failure.
    private static func write(_ original: IDBytes, to user: UserPointer) {
        var original = original
        withUnsafeBytes(of: &original) { raw in
            try? user.write(from: raw.baseAddress!, byteCount: raw.count)
        }
    }
}

/// The 16 id bytes of a request struct (as C imports them).
typealias IDBytes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
