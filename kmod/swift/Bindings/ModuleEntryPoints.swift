// SPDX-License-Identifier: GPL-2.0-or-later

// The functions the C glue calls (declared in batch_syscalls_glue.h): each
// turns the kernel's pointers into Bindings types and hands over to the
// handlers in Overlay/.

@c @implementation
public func bs_swift_init() -> Int32 {
    guard ABIConstants.match else {
        Log.error("the module's Swift and the uapi header disagree")
        return -EINVAL
    }
    let error = ModuleState.load()
    if error != 0 { return error }
    #if BS_LOG_TRACE
    Log.info("loaded, log level", 3)
    #elseif BS_LOG_DEBUG
    Log.info("loaded, log level", 2)
    #else
    Log.info("loaded, log level", 1)
    #endif
    return 0
}

@c @implementation
public func bs_swift_exit() {
    ModuleState.unload()
    Log.info("unloaded")
}

@c @implementation
public func bs_swift_ioctl(_ command: UInt32, _ argument: UInt64) -> Int {
    let user = UserPointer(argument)
    do throws(OverlayError) {
        switch command {
        case bs_ioctl_create: try CreateRequest.handle(userRequest: user)
        case bs_ioctl_cleanup: try CleanupRequest.handle(userRequest: user)
        case bs_ioctl_stack: try StackRequest.handle(userRequest: user)
        default: throw .unknownCommand
        }
        return 0
    } catch {
        Log.debug("request failed, errno", Int64(error.errno))
        return error.negativeErrno
    }
}

@c @implementation
public func bs_swift_lower_readahead(_ overlay: UnsafeMutableRawPointer, _ rac: OpaquePointer) {
    LowerFill.readahead(LowerHandle(overlay), ReadaheadRequest(unsafeKernelPointer: rac))
}

@c @implementation
public func bs_swift_lower_fill(_ lower: UnsafeMutableRawPointer, _ batch: UnsafeMutablePointer<bs_fill_batch>) {
    LowerFill.fill(LowerHandle(lower), FolioBatch(unsafeKernelPointer: batch))
}

@c @implementation
public func bs_swift_lower_read_folio(_ overlay: UnsafeMutableRawPointer, _ folio: OpaquePointer,
                                        _ page: UInt64) -> Int32 {
    LowerFill.read(LowerHandle(overlay), LockedFolio(unsafeKernelPointer: folio, page: page))
}

@c @implementation
public func bs_swift_lower_release(_ overlay: UnsafeMutableRawPointer) {
    let handle = LowerHandle(overlay)
    OverlaySharing.forget(handle)
    Log.debug("lower layers released, layers", Int64(handle.pointer.pointee.layers.count))
    handle.destroy()
}

@c @implementation
public func bs_swift_lower_keeps_unused(_ lower: UnsafeMutableRawPointer) -> Bool {
    LowerHandle(lower).pointer.pointee.keepsUnused
}

@c @implementation
public func bs_swift_lower_sweep(_ all: Bool) -> Bool {
    OverlaySharing.sweepUnusedLowers(all: all)
}

@c @implementation
public func bs_swift_lower_unused_count() -> UInt64 {
    UInt64(OverlaySharing.unusedLowerCount)
}

@c @implementation
public func bs_swift_lower_shrink(_ count: UInt64) -> Int64 {
    OverlaySharing.shrinkUnusedLowers(upTo: Int(clamping: count)).map { Int64($0) } ?? -1
}

@c @implementation
public func bs_swift_overlay_fault(_ overlay: UnsafeMutableRawPointer, _ attachment: UnsafeMutableRawPointer?,
                                   _ fault: OpaquePointer, _ page: UInt64, _ write: Bool) -> UInt32 {
    OverlayFault.fault(OverlayHandle(overlay), attachment: attachment.map { AttachmentHandle($0) },
                       PageFault(unsafeKernelPointer: fault), page: page, write: write).raw
}

@c @implementation
public func bs_swift_overlay_map_pages(_ overlay: UnsafeMutableRawPointer, _ fault: OpaquePointer, _ first: UInt64,
                                    _ last: UInt64) -> UInt32 {
    OverlayFault.mapPages(OverlayHandle(overlay), PageFault(unsafeKernelPointer: fault), first: first, last: last).raw
}

@c @implementation
public func bs_swift_overlay_mmap(_ overlay: UnsafeMutableRawPointer, _ shared: Bool,
                               _ noHugePages: UnsafeMutablePointer<Bool>, _ noExec: UnsafeMutablePointer<Bool>) -> Int32 {
    let hasOwnPages = OverlayHandle(overlay).pointer.pointee.hasOwnPages
    // What the overlay shows may not be executed where a layer may not be.
    noExec.pointee = OverlayHandle(overlay).pointer.pointee.forbidsExecution
    // A shared mapping shows the page cache as it is: it cannot show own
    // pages, which are private copies.
    if shared && hasOwnPages { return -EACCES }
    // A huge mapping of the lower page cache would hide own pages under it.
    noHugePages.pointee = hasOwnPages
    return 0
}

@c @implementation
public func bs_swift_overlay_willneed(_ overlay: UnsafeMutableRawPointer, _ file: OpaquePointer, _ first: UInt64,
                                   _ last: UInt64) {
    // The caller (fadvise, madvise) holds the file for the call; the
    // prefetch takes a reference of its own, as a loading set's does.
    let view = KernelFile(adopting: bs_file_get(file))
    OverlayHandle(overlay).pointer.pointee.prefetch(first: first, last: last, through: view)
}

@c @implementation
public func bs_swift_overlay_readahead_pages(_ overlay: UnsafeMutableRawPointer) -> UInt32 {
    OverlayHandle(overlay).pointer.pointee.readaheadPages
}

@c @implementation
public func bs_swift_overlay_mapping(_ overlay: UnsafeMutableRawPointer) -> OpaquePointer {
    OverlayHandle(overlay).pointer.pointee.mapping.unsafeKernelPointer
}

@c @implementation
public func bs_swift_overlay_release(_ overlay: UnsafeMutableRawPointer) {
    let handle = OverlayHandle(overlay)
    OverlaySharing.forget(handle)
    Log.debug("overlay released, own layers", Int64(handle.pointer.pointee.ownLayers.count))
    handle.destroy()
}

@c @implementation
public func bs_swift_attachment_release(_ attachment: UnsafeMutableRawPointer) {
    AttachmentHandle(attachment).release()
}

@c @implementation
public func bs_swift_render_stats(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
    OverlayListing.renderStats(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)) ?? -1
}

@c @implementation
public func bs_swift_render_overlays(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
    OverlayListing.render(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)) ?? -1
}

@c @implementation
public func bs_swift_remote_call(_ context: UnsafeMutableRawPointer) {
    // SAFETY: a RemoteCall on the stack of TargetProcess.run, which waits
    // until this returns.
    let call = context.assumingMemoryBound(to: RemoteCall.self).pointee
    call.run(call.work)
}
