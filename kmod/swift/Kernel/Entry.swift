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
    OverlayDirectory.releaseStorage()
    OverlaySharing.releaseStorage()
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
public func bs_swift_overlay_mmap_check(_ shared: Bool, _ mayWrite: Bool) -> Int32 {
    // Writes through a shared mapping would need a write layer; private
    // writes copy the page and are always fine.
    shared && mayWrite ? -EACCES : 0
}

/// Fills the overlay's page cache for a readahead request, in batches of
/// at most 64 pages.
@c @implementation
public func bs_swift_overlay_readahead(_ overlay: UnsafeMutableRawPointer, _ rac: OpaquePointer) {
    let overlay = OverlayHandle(overlay).pointer
    // 512 bytes on the stack (below the stdlib's 1 KiB limit, so no heap).
    withUnsafeTemporaryAllocation(of: OpaquePointer?.self, capacity: Int(BS_FILL_BATCH_PAGES)) { folios in
        var firstPage: UInt64 = 0
        while true {
            let count = bs_readahead_take(rac, folios.baseAddress!, UInt32(folios.count), &firstPage)
            if count == 0 { return }
            fill(overlay, folios: folios.baseAddress!, firstPage: firstPage, count: count)
        }
    }
}

/// Fills one readahead batch. Each layer's span of the batch is first read
/// directly into the overlay's folios where the layer allows it (one I/O
/// per layer, no copy); the layers that do not are prefetched together,
/// then their runs are copied from their page cache.
private func fill(_ overlay: UnsafeMutablePointer<Overlay>, folios: UnsafeMutablePointer<OpaquePointer?>,
                  firstPage: UInt64, count: UInt32) {
    let plan = overlay.pointee.segments.plan(first: firstPage, count: UInt64(count))
    let spans = LayerSpans(plan)
    var readDirectly: UInt32 = 0  // bit s: span s was read directly
    for index in 0..<spans.count {
        let span = spans[index]
        let served = spans.servedMask(ofSpan: index)
        if bs_layer_read_direct(overlay.pointee.file(for: span.layer), span.first, UInt32(span.count),
                                folios + Int(span.first - firstPage), served) {
            readDirectly |= 1 << UInt32(index)
            Log.trace("readahead span read directly, pages", Int64(span.count))
            overlay.pointee.layers.recordServed(UInt64(served.nonzeroBitCount), from: span.layer)
        }
    }
    for index in 0..<spans.count where readDirectly & (1 << UInt32(index)) == 0 {
        let span = spans[index]
        bs_layer_prefetch(overlay.pointee.file(for: span.layer), span.first, span.count)
    }
    for run in plan {
        if let span = spans.index(of: run.layer), readDirectly & (1 << UInt32(span)) != 0 { continue }
        Log.trace("readahead run copied, pages", Int64(run.count))
        let filled = bs_folios_fill(overlay.pointee.file(for: run.layer), folios + Int(run.first - firstPage),
                                    run.count)
        overlay.pointee.layers.recordServed(filled, from: run.layer)
    }
}

@c @implementation
public func bs_swift_overlay_read_folio(_ overlay: UnsafeMutableRawPointer, _ folio: OpaquePointer,
                                        _ page: UInt64) -> Int32 {
    let overlay = OverlayHandle(overlay).pointer
    let layer = overlay.pointee.segments.layer(forPage: page)
    var folio: OpaquePointer? = folio
    let filled = bs_folios_fill(overlay.pointee.file(for: layer), &folio, 1)
    overlay.pointee.layers.recordServed(filled, from: layer)
    return filled == 1 ? 0 : -EIO
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
    let handle = AttachmentHandle(attachment)
    let id = handle.pointer.pointee.id
    let wasRegistered = OverlayDirectory.withLock { registry in registry.remove(id: id, handle: attachment) }
    OverlayDirectory.countFile(-1)
    handle.pointer.pointee.overlay.pointee.detach()
    Log.debug(wasRegistered ? "request's mapping gone without cleanup" : "request's mapping gone")
    handle.destroy()
}

@c @implementation
public func bs_swift_render_stats(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
    OverlayListing.renderStats(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)) ?? -1
}

@c @implementation
public func bs_swift_render_overlays(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
    OverlayListing.render(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)) ?? -1
}
