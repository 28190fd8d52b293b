// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
@_spi(Testing) import MemoryOverlay
import SystemPackage

// A minimal ABI v2 request (IOCTL_MEM_OVERLAY_STACK_CMD) for the stress
// parts only: MemoryOverlay's raw-request API has no v2 request on main
// yet (branch v2-userspace adds RawStackRequest). When it lands, this file
// goes and the stress parts send RawStackRequest instead. The layout comes
// from the ABI header (CBatchSyscalls), never from a copy.

/// One layer of a stack request: a descriptor, flags, and where its
/// segments are (any address, any count).
struct StressLayer {
    var fd: Int32
    var flags: UInt32 = 0
    var segmentsSize: UInt64
    var segments: UnsafeRawPointer?

    var cStruct: mem_overlay_layer {
        mem_overlay_layer(fd: fd, flags: flags, segments_size: segmentsSize,
                          segments: UInt64(UInt(bitPattern: segments)))
    }
}

enum StressStackRequest {
    /// `IOCTL_MEM_OVERLAY_STACK_CMD`: `_IOWR('s', 3, struct mem_overlay_stack_req)`.
    static let command = OverlayDevice.command([.read, .write], type: "s", number: 3,
                                               size: MemoryLayout<mem_overlay_stack_req>.size)
    /// `sizeof(struct mem_overlay_stack_req)` (48).
    static let size = MemoryLayout<mem_overlay_stack_req>.size
    /// `MEM_OVERLAY_LAYER_DATA_EXTENTS`.
    static let dataExtents = UInt32(MEM_OVERLAY_LAYER_DATA_EXTENTS)
    static let maximumLayers = Int(MEM_OVERLAY_MAX_LAYERS)
    static let idOffset = MemoryLayout<mem_overlay_stack_req>.offset(of: \mem_overlay_stack_req.id)!
    static let layerStride = MemoryLayout<mem_overlay_layer>.stride

    /// Writes the request's first `byteCount` bytes at `address`.
    static func store(size: UInt32, flags: UInt32 = 0, base: UnsafeRawPointer?, layersSize: UInt64,
                      layers: UnsafeRawPointer?, at address: UnsafeMutableRawPointer, byteCount: Int = size) {
        var request = mem_overlay_stack_req()
        request.size = size
        request.flags = flags
        request.base_addr = UInt64(UInt(bitPattern: base))
        request.layers_size = layersSize
        request.layers = UInt64(UInt(bitPattern: layers))
        withUnsafeBytes(of: &request) { _ = memcpy(address, $0.baseAddress!, min(byteCount, $0.count)) }
    }

    /// Writes `layers` at `address` in the ABI's layout.
    static func store(_ layers: [StressLayer], at address: UnsafeMutableRawPointer) {
        let entries = address.bindMemory(to: mem_overlay_layer.self, capacity: layers.count)
        for (index, layer) in layers.enumerated() { entries[index] = layer.cStruct }
    }

    /// Sends a well-formed request from memory of its own: `layers`, lowest
    /// first, each with its segments, over the mapping at `base`.
    static func send(_ device: OverlayDevice, base: UnsafeRawPointer?,
                     layers: [(fd: Int32, flags: UInt32, segments: RawSegments)]) -> Result<OverlayID, Errno> {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size + layers.count * layerStride, alignment: 16)
        defer { memory.deallocate() }
        memset(memory, 0, size + layers.count * layerStride)
        // Each layer's segments must stay put while the request is sent.
        func withSegments(_ index: Int, _ placed: [StressLayer]) -> Result<OverlayID, Errno> {
            if index == layers.count {
                store(placed, at: memory + size)
                store(size: UInt32(size), base: base, layersSize: UInt64(layers.count), layers: memory + size, at: memory)
                if let error = device.ioctl(command, memory) { return .failure(error) }
                return .success(OverlayID(bytes: Array(UnsafeRawBufferPointer(start: memory + idOffset, count: 16)))!)
            }
            let layer = layers[index]
            return layer.segments.withUnsafeAddress { pointer in
                withSegments(index + 1, placed + [StressLayer(fd: layer.fd, flags: layer.flags,
                                                              segmentsSize: UInt64(layer.segments.count),
                                                              segments: pointer)])
            }
        }
        return withSegments(0, [])
    }
}
