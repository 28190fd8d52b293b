// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// What the tap runner found before the first scenario.
enum TestEnvironment {
    /// Whether /dev/batch_syscalls existed when the run started: a scenario
    /// that then finds no device fails instead of skipping.
    nonisolated(unsafe) static var deviceWasPresent = false
}

/// The library's device as the scenarios use it: opened with a skip when
/// the module is not there, and requests that must succeed giving the raw
/// id, which the scenario cleans up itself (an `Overlay` would clean up
/// when released).
extension OverlayDevice {
    /// Opens the device; a missing device skips the scenario unless the run
    /// started with the device present (then it is a failure).
    static func openForScenario() throws -> OverlayDevice {
        let path = OverlayDevice.defaultPath
        do {
            return try OverlayDevice(path: path)
        } catch {
            if [ENOENT, ENODEV, ENXIO].contains(error.errno.rawValue) {
                if TestEnvironment.deviceWasPresent {
                    throw TestFailure("\(path) disappeared during the run (open: \(error))")
                }
                throw SkipScenario("no \(path) (module not loaded)")
            }
            if (error.errno.rawValue == EACCES || error.errno.rawValue == EPERM) && geteuid() != 0 {
                throw SkipScenario("not root: cannot open \(path)")
            }
            throw SysError("open \(path)", error.errno)
        }
    }

    /// Creates an overlay that must succeed: its id.
    func overlay(_ request: RawCreateRequest, _ what: String = "create") throws -> OverlayID {
        switch create(request) {
        case .success(let id): return id
        case .failure(let error): throw TestFailure("\(what): create request failed: \(error)")
        }
    }

    /// Overlays `segments` of `overlay` over all of `base`: its id.
    func overlay(base: MappedFile, overlay: MappedFile, segments: [ClosedRange<Int>]) throws -> OverlayID {
        try self.overlay(RawCreateRequest(base: base.address, overlay: overlay.address, segments: segments),
                         "overlay \(overlay.name) on \(base.name)")
    }
}

extension RawCreateRequest {
    /// A request for `segments` of the mapping at `overlay` over the one at
    /// `base` (any address inside a mapping names it).
    init(base: UnsafeRawPointer?, overlay: UnsafeRawPointer?, segments: [ClosedRange<Int>]) {
        self.init(baseAddress: base, overlayAddress: overlay, segments: RawSegments(ranges: segments))
    }
}

extension OverlayID {
    /// An id no request returned (random, so that it is unknown).
    static func random() -> OverlayID {
        var generator = freshGenerator()
        return OverlayID(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })!
    }

    /// This id with the bits of `mask` flipped in byte `index`.
    func flipping(_ mask: UInt8, inByte index: Int) -> OverlayID {
        var bytes = self.bytes
        bytes[index] ^= mask
        return OverlayID(bytes: bytes)!
    }
}
