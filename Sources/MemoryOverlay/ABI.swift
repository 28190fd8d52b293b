// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

/// The ABI's structs and ioctls (include/uapi/batch_syscalls.h), laid out
/// in this one place.
///
/// `package`, not public: the library's own requests are built from
/// checked values here, and MemoryOverlayTesting builds requests holding
/// anything (lying sizes, pointers to nowhere) from the same pieces.
package enum ABI {
    /// `IOCTL_MEM_OVERLAY_REQ_CMD`.
    package static let createCommand: UInt = batch_syscalls_create_cmd
    /// `IOCTL_MEM_OVERLAY_CLEANUP_CMD`.
    package static let cleanupCommand: UInt = batch_syscalls_cleanup_cmd
    /// `IOCTL_MEM_OVERLAY_STACK_CMD` (ABI v2).
    package static let stackCommand: UInt = batch_syscalls_stack_cmd
    /// `MEM_OVERLAY_LAYER_DATA_EXTENTS`.
    package static let dataExtentsFlag = UInt32(batch_syscalls_layer_data_extents)
    /// `MEM_OVERLAY_STACK_PIDFD`.
    package static let pidfdFlag = UInt32(batch_syscalls_stack_pidfd)
    /// `MEM_OVERLAY_STACK_POPULATE`.
    package static let populateFlag = UInt32(batch_syscalls_stack_populate)
    /// `MEM_OVERLAY_LAYER_OWN`.
    package static let ownFlag = UInt32(batch_syscalls_layer_own)
    /// `MEM_OVERLAY_LAYER_SHARED`.
    package static let sharedFlag = UInt32(batch_syscalls_layer_shared)

    /// ioctl(2) on `device` with one pointer argument: nil, or the errno.
    package static func ioctl(_ device: FileDescriptor, _ command: UInt,
                              _ argument: UnsafeMutableRawPointer?) -> Errno? {
        batch_syscalls_ioctl(device.rawValue, command, argument) == 0 ? nil : .current
    }

    /// One segment as the kernel reads it.
    package static func segment(start: UInt, end: UInt) -> mem_overlay_segment_req {
        mem_overlay_segment_req(start_pgoff: start, end_pgoff: end)
    }

    /// `struct mem_overlay_req` with `count` segments at `segments`.
    package static func createRequest(base: UnsafeRawPointer?, overlay: UnsafeRawPointer?,
                                      segments: UnsafeRawPointer?, count: UInt32) -> mem_overlay_req {
        var request = mem_overlay_req()
        request.base_addr = UInt(bitPattern: base)
        request.overlay_addr = UInt(bitPattern: overlay)
        request.segments_size = count
        request.segments = UnsafeMutablePointer(mutating: segments?.assumingMemoryBound(to: mem_overlay_segment_req.self))
        return request
    }

    /// `struct mem_overlay_layer`.
    package static func layer(fileDescriptor: Int32, flags: UInt32, segments: UnsafeRawPointer?,
                              count: UInt64) -> mem_overlay_layer {
        var layer = mem_overlay_layer()
        layer.fd = fileDescriptor
        layer.flags = flags
        layer.segments_size = count
        layer.segments = UInt64(UInt(bitPattern: segments))
        return layer
    }

    /// `struct mem_overlay_stack_req`, its `id` all zeros.
    package static func stackRequest(size: UInt32 = UInt32(MemoryLayout<mem_overlay_stack_req>.size),
                                     flags: UInt32 = 0, base: UnsafeRawPointer?, layers: UnsafeRawPointer?,
                                     count: UInt64) -> mem_overlay_stack_req {
        var request = mem_overlay_stack_req()
        request.size = size
        request.flags = flags
        request.base_addr = UInt64(UInt(bitPattern: base))
        request.layers_size = count
        request.layers = UInt64(UInt(bitPattern: layers))
        return request
    }

    /// Calls `body` with `request` pointing at `loadingSet` (none when it
    /// is empty), the pointer valid during the call.
    package static func withLoadingSet<Result>(
        _ loadingSet: [mem_overlay_segment_req], in request: inout mem_overlay_stack_req,
        _ body: (inout mem_overlay_stack_req) -> Result
    ) -> Result {
        guard !loadingSet.isEmpty else {
            request.loading_set = 0
            request.loading_set_size = 0
            return body(&request)
        }
        return loadingSet.withUnsafeBufferPointer { buffer in
            request.loading_set = UInt64(UInt(bitPattern: buffer.baseAddress))
            request.loading_set_size = UInt64(buffer.count)
            return body(&request)
        }
    }

    /// Where the segments of one layer come from while a request is sent.
    package enum LayerSegments {
        /// An array of the layer's own, pointed at during the call.
        case array([mem_overlay_segment_req])
        /// Any address, with any count.
        case address(UnsafeRawPointer?, count: UInt64)
    }

    /// Calls `body` with the C structs of layers in one array, every
    /// array's segments pointer valid during the call; `countOverride`
    /// gives a layer's `segments_size` when it must differ from its array.
    package static func withLayers<Result>(
        _ layers: [(fileDescriptor: Int32, flags: UInt32, segments: LayerSegments, countOverride: UInt64?)],
        _ body: (UnsafeRawPointer?) -> Result
    ) -> Result {
        var structs: [mem_overlay_layer] = []
        structs.reserveCapacity(layers.count)
        // Each array's address is valid only inside its closure: nest one
        // closure per layer (255 at most), then call `body` innermost.
        func next(_ index: Int) -> Result {
            guard index < layers.count else {
                return structs.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress)) }
            }
            let layer = layers[index]
            switch layer.segments {
            case .array(let segments):
                return segments.withUnsafeBufferPointer { buffer in
                    structs.append(Self.layer(fileDescriptor: layer.fileDescriptor, flags: layer.flags,
                                              segments: UnsafeRawPointer(buffer.baseAddress),
                                              count: layer.countOverride ?? UInt64(buffer.count)))
                    return next(index + 1)
                }
            case .address(let pointer, let count):
                structs.append(Self.layer(fileDescriptor: layer.fileDescriptor, flags: layer.flags,
                                          segments: pointer, count: layer.countOverride ?? count))
                return next(index + 1)
            }
        }
        return next(0)
    }
}
