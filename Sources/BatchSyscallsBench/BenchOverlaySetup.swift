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
        let device: OverlayDevice
        let base: MappedFile
        let layer: MappedFile
        do {
            device = try OverlayDevice()
        } catch {
            throw .unavailable("cannot open \(OverlayDevice.defaultPath): \(error)")
        }
        do {
            base = try MappedFile(path: input.files.base, protection: input.protection, pages: input.layout.pages)
            // Any mapping of the overlay file names it; its size does not matter.
            layer = try MappedFile(path: input.files.overlay, protection: .read, pages: 1)
        } catch {
            throw .call("mmap of the data files", error)
        }
        guard let segments = input.segments else { throw .failed("no segment list") }
        let overlay: Overlay
        do {
            overlay = try device.overlay(base: base, layer: layer, segments: segments)
        } catch {
            throw .call("create ioctl with \(segments.count) segments", error)
        }
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [], overlay: overlay)
    }
}
