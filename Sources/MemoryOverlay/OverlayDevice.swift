// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

/// `/dev/batch_syscalls`, open: the door to the module's requests, create
/// an overlay (one layer, ABI v1, or a whole chain, ABI v2) and clean one
/// up. Closed when the last reference goes.
public final class OverlayDevice: Sendable {
    /// Where the module's misc device lives.
    public static let defaultPath = FilePath(BATCH_SYSCALLS_DEVICE_PATH)

    /// The open device.
    public let fileDescriptor: FileDescriptor

    /// Opens the device (read-write; it is mode 0600, so usually root only).
    ///
    /// - Throws: ``OverlayError/moduleNotLoaded`` when the module is not
    ///   loaded, ``OverlayError/permissionDenied`` without permission, or
    ///   ``OverlayError/other(_:)`` with another `Errno` of `open`.
    public init(path: FilePath = OverlayDevice.defaultPath) throws(OverlayError) {
        do {
            fileDescriptor = try Errno.rethrowing {
                try FileDescriptor.open(path, .readWrite, options: .closeOnExec)
            }
        } catch {
            throw OverlayError(error, from: .open)
        }
    }

    deinit {
        try? fileDescriptor.close()
    }

    /// Whether the device exists at `path` (the module is loaded); says
    /// nothing about permission to open it.
    public static func exists(at path: FilePath = OverlayDevice.defaultPath) -> Bool {
        access(path.string, F_OK) == 0
    }

    /// Lays `segments` of `layer` over all of `base` and returns the
    /// overlay, which cleans its id up when it goes away.
    ///
    /// From then on `base`'s memory shows, at each page whose file page
    /// offset lies in a segment, `layer`'s file page at that offset, and the
    /// base file's page everywhere else.
    ///
    /// - Parameters:
    ///   - base: a private mapping of the base file, not written yet.
    ///   - layer: any mapping of the overlay file; only its file counts.
    ///   - segments: the file page ranges `layer` serves.
    /// - Throws: the module's refusal: ``OverlayError/invalidRequest``
    ///   (base not a private file mapping), ``OverlayError/alreadyOverlaid``,
    ///   ``OverlayError/mappingHoldsPrivateWrites``, ``OverlayError/tooLarge``,
    ///   ``OverlayError/outOfMemory``, ...
    public func overlay(base: MappedFile, layer: MappedFile, segments: SegmentList) throws(OverlayError) -> Overlay {
        var id = OverlayID.zero
        let table = segments.abiSegments
        let error: Errno? = table.withUnsafeBufferPointer { buffer in
            // Any address inside the base and overlay mappings identifies them.
            var request = ABI.createRequest(base: base.address, overlay: layer.address,
                                            segments: UnsafeRawPointer(buffer.baseAddress),
                                            count: UInt32(buffer.count))
            let error = ABI.ioctl(fileDescriptor, ABI.createCommand, &request)
            if error == nil { id = OverlayID(tuple: request.id) }
            return error
        }
        if let error { throw OverlayError(error, from: .create) }
        return Overlay(id: id, device: self, base: base, layer: layer)
    }

    /// Lays a whole snapshot chain over all of `base` in one request and
    /// returns the overlay, which cleans its id up when it goes away.
    ///
    /// Later layers lie above earlier ones: a page of `base` shows the
    /// topmost layer that serves its file page offset, and the base file
    /// where none does. The request is all or nothing: the mapping never
    /// shows part of the chain, and a refused request changes nothing. The
    /// result is one overlay with one id; after ``Overlay/remove()`` a new
    /// request on `base` lays its layers over what it shows.
    ///
    /// A loading set names the pages the restore will touch first (as
    /// recorded from an earlier run, see ``LoadingSet``): once the overlay
    /// is published the module starts reading them from whichever layer
    /// serves each, and returns without waiting for the reads; a fault on
    /// a page still being read waits for that read only. With `populate`
    /// the request also maps them read-only before it returns, as
    /// `MADV_POPULATE_READ` would (a later write still copies the page),
    /// so touching them takes no fault. Pages of the set past the
    /// mapping's end are ignored.
    ///
    /// - Parameters:
    ///   - base: a private mapping of the base file, not written yet.
    ///   - layers: the layers, lowest first (1 to 255).
    ///   - loadingSet: the pages to read ahead, or nil (an empty set is
    ///     sent as none).
    ///   - populate: map the loading set's pages before returning
    ///     (`MEM_OVERLAY_STACK_POPULATE`). It needs a non-empty
    ///     `loadingSet`: without one the module refuses the request with
    ///     ``OverlayError/invalidRequest`` and nothing changes.
    /// - Throws: the module's refusal: ``OverlayError/invalidRequest``
    ///   (base not a private file mapping, no layers, a layer not a
    ///   regular file, `populate` without a loading set),
    ///   ``OverlayError/badLayerDescriptor``,
    ///   ``OverlayError/layerNotReadable``, ``OverlayError/tooLarge`` (more
    ///   than 255 layers, or too many segments or extents in one),
    ///   ``OverlayError/alreadyOverlaid``,
    ///   ``OverlayError/mappingHoldsPrivateWrites``,
    ///   ``OverlayError/outOfMemory``, ``OverlayError/unsupportedRequest``
    ///   (a module without ABI v2), ...
    public func stack(base: MappedFile, layers: [Layer], loadingSet: LoadingSet? = nil,
                      populate: Bool = false) throws(OverlayError) -> Overlay {
        var id = OverlayID.zero
        let error: Errno? = ABI.withLayers(layers.map(\.abiLayer)) { layersPointer in
            var request = ABI.stackRequest(flags: populate ? ABI.populateFlag : 0, base: base.address,
                                           layers: layersPointer, count: UInt64(layers.count))
            return ABI.withLoadingSet(loadingSet?.abiSegments ?? [], in: &request) { request in
                let error = ABI.ioctl(fileDescriptor, ABI.stackCommand, &request)
                if error == nil { id = OverlayID(tuple: request.id) }
                return error
            }
        }
        if let error { throw OverlayError(error, from: .stack) }
        return Overlay(id: id, device: self, base: base, layer: nil)
    }

    /// Lays a whole snapshot chain over the mapping of another process that
    /// contains `address`, in one request, as ``stack(base:layers:loadingSet:populate:)`` does
    /// over a mapping of this one.
    ///
    /// The process need not know the module: an orchestrator restores a
    /// VMM's guest memory this way (its RAM a private mapping of the base
    /// snapshot file) while the VMM is paused, or running: its threads see
    /// each page before or after, never a mix. The id is the caller's; the
    /// overlay lives until the process unmaps the range or exits.
    ///
    /// - Parameters:
    ///   - process: the target.
    ///   - address: an address inside the target's private mapping of the
    ///     base file.
    ///   - layers: the layers, lowest first (1 to 255), open in this process.
    ///   - loadingSet: the pages to read ahead, as for
    ///     ``stack(base:layers:loadingSet:populate:)``.
    ///   - populate: map the loading set's pages in the process before
    ///     returning; needs a non-empty `loadingSet`.
    /// - Throws: ``OverlayError/processNotWritable`` when the caller may not
    ///   write the process's memory as `process_vm_writev` may (another
    ///   user's process without `CAP_SYS_PTRACE`, Yama's `ptrace_scope`),
    ///   ``OverlayError/processGone``, and the refusals of
    ///   ``stack(base:layers:loadingSet:populate:)``.
    public func stack(in process: TargetProcess, at address: UInt, layers: [Layer], loadingSet: LoadingSet? = nil,
                      populate: Bool = false) throws(OverlayError) -> ProcessOverlay {
        var id = OverlayID.zero
        let error: Errno? = ABI.withLayers(layers.map(\.abiLayer)) { layersPointer in
            var request = ABI.stackRequest(flags: ABI.pidfdFlag | (populate ? ABI.populateFlag : 0),
                                           base: UnsafeRawPointer(bitPattern: address),
                                           layers: layersPointer, count: UInt64(layers.count))
            request.pidfd = process.pidfd.rawValue
            return ABI.withLoadingSet(loadingSet?.abiSegments ?? [], in: &request) { request in
                let error = ABI.ioctl(fileDescriptor, ABI.stackCommand, &request)
                if error == nil { id = OverlayID(tuple: request.id) }
                return error
            }
        }
        if let error { throw OverlayError(error, from: .stackInProcess) }
        return ProcessOverlay(id: id, device: self, process: process, address: address)
    }

    /// The cleanup request (`IOCTL_MEM_OVERLAY_CLEANUP_CMD`): releases the
    /// id. The mapping goes on showing the overlay until it is unmapped.
    ///
    /// - Throws: ``OverlayError/unknownID``, ``OverlayError/notPermitted``.
    package func sendCleanup(_ id: OverlayID) throws(OverlayError) {
        var request = mem_overlay_cleanup_req()
        request.id = id.tuple
        if let error = ABI.ioctl(fileDescriptor, ABI.cleanupCommand, &request) {
            throw OverlayError(error, from: .cleanup)
        }
    }
}
