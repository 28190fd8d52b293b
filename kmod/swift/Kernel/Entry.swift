// SPDX-License-Identifier: GPL-2.0-or-later

// The functions the C glue calls (declared in batch_syscalls_glue.h).

@c @implementation
public func bs_swift_init() {
    #if BS_LOG_TRACE
    Log.info("loaded, log level", 3)
    #elseif BS_LOG_DEBUG
    Log.info("loaded, log level", 2)
    #else
    Log.info("loaded, log level", 1)
    #endif
}

@c @implementation
public func bs_swift_exit() {
    // The VFS holds the module while any overlay exists, so none is left.
    let left = OverlayDirectory.count
    if left != 0 { Log.error("overlays still registered at exit:", Int64(left)) }
    Log.info("unloaded")
}

@c @implementation
public func bs_swift_ioctl(_ command: UInt32, _ argument: UInt64) -> Int {
    let user = UserPointer(argument)
    do throws(OverlayError) {
        switch command {
        case bs_ioctl_create: try CreateRequest.handle(userRequest: user)
        case bs_ioctl_cleanup: try CleanupRequest.handle(userRequest: user)
        default: throw .unknownCommand
        }
        return 0
    } catch {
        Log.debug("request failed, errno", Int64(error.errno))
        return error.negativeErrno
    }
}

@c @implementation
public func bs_swift_overlay_mmap_check(_ shared: Bool, _ mayWrite: Bool) -> Int32 {
    // Writes through a shared mapping would need a write layer; private
    // writes copy the page and are always fine.
    shared && mayWrite ? -EACCES : 0
}

@c @implementation
public func bs_swift_overlay_readahead(_ overlay: UnsafeMutableRawPointer, _ rac: OpaquePointer,
                                       _ firstPage: UInt64, _ pages: UInt64) {
    let overlay = OverlayHandle(overlay).pointer
    let plan = overlay.pointee.segments.plan(first: firstPage, count: pages)
    let spans = LayerSpans(plan)
    for index in 0..<spans.count {
        let span = spans[index]
        bs_layer_prefetch(overlay.pointee.file(for: span.layer), span.first, span.count)
    }
    for run in plan {
        Log.trace("readahead run, pages", Int64(run.count))
        let filled = bs_readahead_fill(rac, overlay.pointee.file(for: run.layer), run.count)
        overlay.pointee.layers.recordServed(filled, from: run.layer)
    }
}

@c @implementation
public func bs_swift_overlay_read_folio(_ overlay: UnsafeMutableRawPointer, _ folio: OpaquePointer,
                                        _ page: UInt64) -> Int32 {
    let overlay = OverlayHandle(overlay).pointer
    let layer = overlay.pointee.segments.layer(forPage: page)
    let result = bs_folio_fill(folio, overlay.pointee.file(for: layer))
    if result == 0 { overlay.pointee.layers.recordServed(1, from: layer) }
    return result
}

@c @implementation
public func bs_swift_overlay_release(_ overlay: UnsafeMutableRawPointer) {
    let handle = OverlayHandle(overlay)
    let id = handle.pointer.pointee.id
    let wasRegistered = OverlayDirectory.withLock { registry in registry.remove(id: id, handle: overlay) }
    Log.debug(wasRegistered ? "overlay released without cleanup, layers" : "overlay released, layers",
              Int64(handle.pointer.pointee.layers.count))
    handle.destroy()
}

@c @implementation
public func bs_swift_render_overlays(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
    OverlayListing.render(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)) ?? -1
}
