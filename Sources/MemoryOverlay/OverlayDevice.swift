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
    /// - Throws: `ENOENT` when the module is not loaded, `EACCES` without
    ///   permission, or another `Errno` of `open`.
    public init(path: FilePath = OverlayDevice.defaultPath) throws(Errno) {
        fileDescriptor = try Errno.rethrowing { try FileDescriptor.open(path, .readWrite, options: .closeOnExec) }
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
    /// - Throws: the module's `Errno`: `EINVAL` (base not a private file
    ///   mapping), `EEXIST` (already overlaid), `EBUSY` (base holds private
    ///   writes), `E2BIG`, `ENOMEM`, ...
    public func overlay(base: MappedFile, layer: MappedFile, segments: SegmentList) throws(Errno) -> Overlay {
        // Any address inside the base and overlay mappings identifies them.
        let request = RawCreateRequest(baseAddress: base.address, overlayAddress: layer.address,
                                       segments: RawSegments(segments))
        let id = try create(request).get()
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
    /// - Parameters:
    ///   - base: a private mapping of the base file, not written yet.
    ///   - layers: the layers, lowest first (1 to 255).
    /// - Throws: the module's `Errno`: `EINVAL` (base not a private file
    ///   mapping, no layers, a layer not a regular file, a segment whose
    ///   end is before its start), `EBADF` (a descriptor not open),
    ///   `EACCES` (a layer not open for reading), `E2BIG` (more than 255
    ///   layers, or too many segments or extents in one), `EEXIST`,
    ///   `EBUSY`, `ENOMEM`, ...
    public func stack(base: MappedFile, layers: [Layer]) throws(Errno) -> Overlay {
        let request = RawStackRequest(baseAddress: base.address, layers: layers.map(\.raw))
        let id = try stack(request).get()
        return Overlay(id: id, device: self, base: base, layer: nil)
    }
}
