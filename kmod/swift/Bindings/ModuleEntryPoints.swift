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
public func bs_swift_overlay_readahead(_ overlay: UnsafeMutableRawPointer, _ rac: OpaquePointer) {
    OverlayFill.readahead(OverlayHandle(overlay), ReadaheadRequest(unsafeKernelPointer: rac))
}

@c @implementation
public func bs_swift_overlay_read_folio(_ overlay: UnsafeMutableRawPointer, _ folio: OpaquePointer,
                                        _ page: UInt64) -> Int32 {
    OverlayFill.read(OverlayHandle(overlay), LockedFolio(unsafeKernelPointer: folio, page: page))
}

@c @implementation
public func bs_swift_overlay_release(_ overlay: UnsafeMutableRawPointer) {
    let handle = OverlayHandle(overlay)
    OverlaySharing.forget(handle)
    Log.debug("overlay released, layers", Int64(handle.pointer.pointee.layers.count))
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
