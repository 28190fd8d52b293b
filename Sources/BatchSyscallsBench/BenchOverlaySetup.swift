// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage

/// This module: open the device, map the base file and the overlay file,
/// one create ioctl.
enum BenchOverlaySetup {
    /// Why the method cannot run here, or nil when it can: the device must
    /// exist and open for reading and writing.
    static func unavailability() -> String? {
        guard OverlayDevice.exists() else {
            return "\(OverlayDevice.defaultPath) not found (the module is not loaded)"
        }
        do {
            _ = try OverlayDevice()
            return nil
        } catch {
            return "cannot open \(OverlayDevice.defaultPath): \(error)"
        }
    }

    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let device = try BenchOpen.device()
        let base = try BenchFloorSetup.mapBase(input)
        let overlay = try input.byDataExtents ? stack(device, base: base, input) : create(device, base: base, input)
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [], overlay: overlay)
    }

    /// One v1 create request with the segment list.
    private static func create(_ device: OverlayDevice, base: MappedFile, _ input: BenchInput) throws(BenchError) -> Overlay {
        let layer: MappedFile
        do {
            // Any mapping of the overlay file names it; its size does not matter.
            layer = try MappedFile(path: input.files.overlay, protection: .read, pages: 1)
        } catch {
            throw .call("mmap of \(input.files.overlay)", error)
        }
        guard let segments = input.segments else { throw .failed("no segment list") }
        do {
            return try device.overlay(base: base, layer: layer, segments: segments)
        } catch {
            throw .call("create ioctl with \(segments.count) segments", error)
        }
    }

    /// One v2 stack request of one layer: the overlay file's data extents.
    private static func stack(_ device: OverlayDevice, base: MappedFile, _ input: BenchInput) throws(BenchError) -> Overlay {
        let file = try BenchOpen.readOnly(input.files.overlay)
        defer { try? file.close() }
        do {
            return try device.stack(base: base, layers: [Layer.dataExtents(of: file)])
        } catch {
            throw .call("v2 request (the data extents of \(input.files.overlay))", error)
        }
    }
}
