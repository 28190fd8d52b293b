// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

/// `/dev/batch_syscalls`, open: the door to the module's two requests,
/// create an overlay and clean one up. Closed when the last reference goes.
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
        let id = try create(baseAddress: base.address, overlayAddress: layer.address, segments: segments)
        return Overlay(id: id, device: self, base: base, layer: layer)
    }

    /// The create request (`IOCTL_MEM_OVERLAY_REQ_CMD`) with raw addresses:
    /// any address inside the base and overlay mappings identifies them.
    /// The caller owns the id: clean it up with ``cleanup(_:)``.
    ///
    /// - Throws: the module's `Errno` (see ``overlay(base:layer:segments:)``),
    ///   `EFAULT` for addresses of no mapping, `EINVAL` for bad segments.
    public func create(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?,
                       segments: SegmentList) throws(Errno) -> OverlayID {
        // The kernel only reads the segments: no mutable copy is needed.
        let request = segments.requestSegments
        let result: Result<OverlayID, Errno> = request.withUnsafeBufferPointer { buffer in
            var raw = mem_overlay_req()
            raw.base_addr = UInt(bitPattern: baseAddress)
            raw.overlay_addr = UInt(bitPattern: overlayAddress)
            raw.segments_size = UInt32(truncatingIfNeeded: buffer.count)
            raw.segments = UnsafeMutablePointer(mutating: buffer.baseAddress)
            guard batch_syscalls_ioctl(fileDescriptor.rawValue, batch_syscalls_create_cmd, &raw) == 0 else {
                return .failure(.current)
            }
            return .success(OverlayID(tuple: raw.id))
        }
        return try result.get()
    }

    /// The cleanup request (`IOCTL_MEM_OVERLAY_CLEANUP_CMD`): releases the
    /// id. The mapping goes on showing the overlay until it is unmapped.
    ///
    /// - Throws: `ENOENT` for an unknown id, `EPERM` when another process
    ///   created the overlay.
    public func cleanup(_ id: OverlayID) throws(Errno) {
        var request = mem_overlay_cleanup_req()
        request.id = id.tuple
        guard batch_syscalls_ioctl(fileDescriptor.rawValue, batch_syscalls_cleanup_cmd, &request) == 0 else {
            throw .current
        }
    }
}
