// SPDX-License-Identifier: GPL-2.0-or-later
import OverlayTestData
import CBatchSyscalls
import Glibc

/// The 16-byte id the create request returns.
struct OverlayID: Equatable, CustomStringConvertible {
    var bytes: [UInt8]

    init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        self.bytes = bytes
    }

    init(_ raw: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        bytes = withUnsafeBytes(of: raw) { Array($0) }
    }

    /// An id no request returned (random, so that it is unknown).
    static func random() -> OverlayID {
        var generator = freshGenerator()
        return OverlayID(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    var raw: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
              UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        var value: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return value
    }

    var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + hex($0) }.joined()
    }
}

/// One create request (struct mem_overlay_req) with its segment array.
struct OverlayRequest {
    var baseAddress: UnsafeRawPointer?
    var overlayAddress: UnsafeRawPointer?
    var segments: [mem_overlay_segment_req]
    /// Overrides `segments.count` in the request (for E2BIG and friends).
    var segmentsSize: UInt32? = nil

    init(base: UnsafeRawPointer?, overlay: UnsafeRawPointer?, segments: [ClosedRange<Int>]) {
        baseAddress = base
        overlayAddress = overlay
        self.segments = segments.map { mem_overlay_segment_req(start_pgoff: UInt($0.lowerBound), end_pgoff: UInt($0.upperBound)) }
    }

    /// A request for the whole of `base` with `overlay`, by their start addresses.
    init(base: MappedFile, overlay: MappedFile, segments: [ClosedRange<Int>]) {
        self.init(base: base.address, overlay: overlay.address, segments: segments)
    }

    /// Segments given as raw (start, end) pairs, e.g. with end < start.
    init(base: UnsafeRawPointer?, overlay: UnsafeRawPointer?, rawSegments: [(UInt, UInt)]) {
        baseAddress = base
        overlayAddress = overlay
        segments = rawSegments.map { mem_overlay_segment_req(start_pgoff: $0.0, end_pgoff: $0.1) }
    }

    /// The C struct, pointing at `segmentPointer`.
    func cStruct(segments segmentPointer: UnsafeMutablePointer<mem_overlay_segment_req>?) -> mem_overlay_req {
        var request = mem_overlay_req()
        request.base_addr = UInt(bitPattern: baseAddress)
        request.overlay_addr = UInt(bitPattern: overlayAddress)
        request.segments_size = segmentsSize ?? UInt32(segments.count)
        request.segments = segmentPointer
        return request
    }
}

/// /dev/batch_syscalls, open.
struct BatchDevice {
    static let path = BATCH_SYSCALLS_DEVICE_PATH

    let fd: Int32

    static var exists: Bool { SystemFiles.exists(path) }

    /// Opens the device; a missing device skips the scenario unless the run
    /// started with the device present (then it is a failure).
    static func open() throws -> BatchDevice {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd >= 0 { return BatchDevice(fd: fd) }
        let error = Errno.current
        if error.code == ENOENT || error.code == ENODEV || error.code == ENXIO {
            if TestEnvironment.deviceWasPresent {
                throw TestFailure("\(path) disappeared during the run (open: \(error))")
            }
            throw SkipScenario("no \(path) (module not loaded)")
        }
        if (error.code == EACCES || error.code == EPERM) && geteuid() != 0 {
            throw SkipScenario("not root: cannot open \(path)")
        }
        throw SysError("open \(path)", error)
    }

    func close() {
        Glibc.close(fd)
    }

    /// ioctl(fd, command, argument): 0 or the errno.
    func ioctl(_ command: UInt, _ argument: UnsafeMutableRawPointer?) -> Int32 {
        batch_syscalls_ioctl(fd, command, argument) == 0 ? 0 : errno
    }

    /// Submits a create request: the id, or the errno.
    func create(_ request: OverlayRequest) -> Result<OverlayID, Errno> {
        // The module only reads the segments: no mutable copy (16 MB for the
        // largest requests, which may run in a small memory cgroup).
        request.segments.withUnsafeBufferPointer { buffer in
            var raw = request.cStruct(segments: UnsafeMutablePointer(mutating: buffer.baseAddress))
            let result = ioctl(batch_syscalls_create_cmd, &raw)
            return result == 0 ? .success(OverlayID(raw.id)) : .failure(Errno(result))
        }
    }

    /// Submits a create request given as the C struct (whatever its
    /// pointers): 0 or the errno.
    func create(raw request: UnsafeMutableRawPointer?) -> Int32 {
        ioctl(batch_syscalls_create_cmd, request)
    }

    /// Creates an overlay that must succeed.
    func overlay(_ request: OverlayRequest, _ what: String = "create") throws -> OverlayID {
        switch create(request) {
        case .success(let id): return id
        case .failure(let error): throw TestFailure("\(what): create request failed: \(error)")
        }
    }

    /// Overlays `segments` of `overlay` over all of `base`.
    func overlay(base: MappedFile, overlay: MappedFile, segments: [ClosedRange<Int>]) throws -> OverlayID {
        try self.overlay(OverlayRequest(base: base, overlay: overlay, segments: segments),
                         "overlay \(overlay.name) on \(base.name)")
    }

    /// The cleanup request: 0 or the errno.
    func cleanup(_ id: OverlayID) -> Int32 {
        var request = mem_overlay_cleanup_req()
        request.id = id.raw
        return ioctl(batch_syscalls_cleanup_cmd, &request)
    }
}

/// What the tap runner found before the first scenario.
enum TestEnvironment {
    /// Whether /dev/batch_syscalls existed when the run started: a scenario
    /// that then finds no device fails instead of skipping.
    nonisolated(unsafe) static var deviceWasPresent = false
}

/// ioctl command numbers built as <asm-generic/ioctl.h> does.
enum IoctlNumber {
    static let write: UInt = 1
    static let read: UInt = 2

    static func make(direction: UInt, type: Character, number: UInt, size: UInt) -> UInt {
        (direction << 30) | (size << 16) | (UInt(type.asciiValue!) << 8) | number
    }
}
