// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import MemoryOverlay

/// A v2 stack request (`struct mem_overlay_stack_req`) holding whatever it
/// is given: a `size` that lies or grows past what the module knows (with
/// the bytes past it chosen), any flags, a layers pointer to anywhere, a
/// `layers_size` that lies. Sent with ``MemoryOverlay/OverlayDevice/stack(_:)`` or
/// ``MemoryOverlay/OverlayDevice/send(_:command:)``, or written anywhere with
/// ``store(at:byteCount:)``.
public struct RawStackRequest {
    /// Where the request's `layers` pointer points.
    public enum Layers {
        /// An array of the request's own, pointed at while it is sent.
        case array([RawLayer])
        /// Any address: NULL, unmapped, `PROT_NONE`, layers placed by hand.
        case address(UnsafeRawPointer?)
    }

    /// Where the request's `loading_set` pointer points.
    public enum LoadingSet {
        /// No loading set: the pointer NULL, the count 0.
        case none
        /// An array of the request's own, pointed at while it is sent.
        case array(RawSegments)
        /// Any address, with any count.
        case address(UnsafeRawPointer?, count: UInt64)
    }

    /// The size of `struct mem_overlay_stack_req` as this library was built
    /// (72 bytes: version 2, with the loading set).
    public static let size = MemoryLayout<mem_overlay_stack_req>.size
    /// `MEM_OVERLAY_STACK_REQ_SIZE_VER0`: below it the module says EINVAL.
    public static let firstVersionSize = Int(BATCH_SYSCALLS_STACK_REQ_SIZE_VER0)
    /// `MEM_OVERLAY_STACK_PIDFD`: `baseAddress` is in the process `pidfd` names.
    public static let pidfdFlag = ABI.pidfdFlag
    /// `MEM_OVERLAY_STACK_POPULATE`: the loading set's pages are mapped
    /// before the request returns.
    public static let populateFlag = ABI.populateFlag
    /// `MEM_OVERLAY_MAX_LAYERS`: above it the module says E2BIG.
    public static let maximumLayers = Int(BATCH_SYSCALLS_MAX_LAYERS)
    /// Where `id` lies in the struct.
    public static let idOffset = MemoryLayout<mem_overlay_stack_req>.offset(of: \mem_overlay_stack_req.id)!

    /// `size`: the struct's size as the caller claims it was built.
    public var size: UInt32 = UInt32(RawStackRequest.size)
    /// `flags` (`MEM_OVERLAY_STACK_PIDFD` is the only one defined).
    public var flags: UInt32 = 0
    /// `pidfd`: the target process when `flags` has
    /// `MEM_OVERLAY_STACK_PIDFD`, else the module wants 0.
    public var pidfd: Int32 = 0
    /// `reserved`: the module wants 0.
    public var reserved: UInt32 = 0
    /// `loading_set` and `loading_set_size`.
    public var loadingSet: LoadingSet = .none
    /// `base_addr`.
    public var baseAddress: UnsafeRawPointer?
    /// What `layers` points at.
    public var layers: Layers
    /// `layers_size`; nil: the array's count (0 for an address).
    public var layersSize: UInt64?
    /// The bytes sent after the struct the library knows when `size` is
    /// larger (fields of a later version); missing ones are zeros.
    public var trailingBytes: [UInt8] = []

    /// A request laying `layers`, lowest first, over the mapping at
    /// `baseAddress`.
    public init(baseAddress: UnsafeRawPointer?, layers: [RawLayer], layersSize: UInt64? = nil) {
        self.baseAddress = baseAddress
        self.layers = .array(layers)
        self.layersSize = layersSize
    }

    /// A request whose layers pointer is `address`, whatever is there.
    public init(baseAddress: UnsafeRawPointer?, layersAt address: UnsafeRawPointer?, layersSize: UInt64) {
        self.baseAddress = baseAddress
        self.layers = .address(address)
        self.layersSize = layersSize
    }

    /// The bytes handed to the kernel: the struct, then up to `size`
    /// the trailing bytes (zeros where none are given). A `size` above a
    /// page is refused by the module before it reads past `size` itself,
    /// so no more than 8 KiB are ever made.
    var byteCount: Int {
        max(Self.size, min(Int(size), 2 * 4096), Self.size + trailingBytes.count)
    }

    /// Calls `body` with the request's bytes (its `id` all zeros), whose
    /// layer and segment pointers are valid during the call.
    func withBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) -> Result) -> Result {
        func send(layersPointer: UnsafeRawPointer?, count: Int) -> Result {
            var request = ABI.stackRequest(size: size, flags: flags, base: baseAddress, layers: layersPointer,
                                           count: layersSize ?? UInt64(count))
            request.pidfd = pidfd
            request.reserved = reserved
            return withLoadingSet { pointer, count in
                request.loading_set = UInt64(UInt(bitPattern: pointer))
                request.loading_set_size = count
                return send(request)
            }
        }
        func send(_ request: mem_overlay_stack_req) -> Result {
            var request = request
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
            defer { bytes.deallocate() }
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
            withUnsafeBytes(of: &request) { bytes.copyMemory(from: $0) }
            for (index, byte) in trailingBytes.enumerated() { bytes[Self.size + index] = byte }
            return body(bytes)
        }
        switch layers {
        case .array(let array):
            return RawLayer.withCStructs(array) { pointer in send(layersPointer: pointer, count: array.count) }
        case .address(let pointer):
            return send(layersPointer: pointer, count: 0)
        }
    }

    /// Calls `body` with the loading set's pointer and count, the pointer
    /// valid during the call.
    private func withLoadingSet<Result>(_ body: (UnsafeRawPointer?, UInt64) -> Result) -> Result {
        switch loadingSet {
        case .none: return body(nil, 0)
        case .address(let pointer, let count): return body(pointer, count)
        case .array(let segments):
            return segments.elements.withUnsafeBytes { body($0.baseAddress, UInt64(segments.elements.count)) }
        }
    }

    /// Writes the first `byteCount` bytes of the request at `address`: a
    /// request in memory the test chose (running into a `PROT_NONE` page,
    /// say). The layers must be an ``Layers/address(_:)``: an array's
    /// address would not outlive this call.
    public func store(at address: UnsafeMutableRawPointer, byteCount: Int? = nil) {
        guard case .address = layers else {
            preconditionFailure("a stored request needs layers at an address of the caller's")
        }
        withBytes { bytes in
            let count = byteCount ?? bytes.count
            precondition(count >= 0 && count <= bytes.count)
            memcpy(address, bytes.baseAddress!, count)
        }
    }
}

/// One layer of a ``RawStackRequest`` (`struct mem_overlay_layer`), as it
/// is: any descriptor, any flags, segments anywhere.
public struct RawLayer {
    /// Where the layer's `segments` pointer points.
    public enum Segments {
        /// An array of the layer's own, pointed at while it is sent.
        case array(RawSegments)
        /// Any address: NULL, unmapped, segments placed by hand.
        case address(UnsafeRawPointer?)
    }

    /// `MEM_OVERLAY_LAYER_DATA_EXTENTS`: the layer serves its file's data.
    public static let dataExtentsFlag = ABI.dataExtentsFlag
    /// `MEM_OVERLAY_LAYER_OWN`: the layer is the restore's own.
    public static let ownFlag = ABI.ownFlag
    /// `MEM_OVERLAY_LAYER_SHARED`: the layer is shared by the restores that lay it.
    public static let sharedFlag = ABI.sharedFlag
    /// The size of one layer in memory (24 bytes).
    public static let stride = MemoryLayout<mem_overlay_layer>.stride

    /// `fd`.
    public var fileDescriptor: Int32
    /// `flags`.
    public var flags: UInt32
    /// What `segments` points at.
    public var segments: Segments
    /// `segments_size`; nil: the array's count (0 for an address).
    public var segmentsSize: UInt64?

    /// A layer of the file open at `fileDescriptor` serving `segments`.
    public init(fileDescriptor: Int32, flags: UInt32 = 0, segments: RawSegments, segmentsSize: UInt64? = nil) {
        self.fileDescriptor = fileDescriptor
        self.flags = flags
        self.segments = .array(segments)
        self.segmentsSize = segmentsSize
    }

    /// A layer whose segments pointer is `address`, whatever is there.
    public init(fileDescriptor: Int32, flags: UInt32 = 0, segmentsAt address: UnsafeRawPointer?,
                segmentsSize: UInt64) {
        self.fileDescriptor = fileDescriptor
        self.flags = flags
        self.segments = .address(address)
        self.segmentsSize = segmentsSize
    }

    /// A layer serving the data extents of the file open at
    /// `fileDescriptor` (no segments).
    public static func dataExtents(fileDescriptor: Int32) -> RawLayer {
        RawLayer(fileDescriptor: fileDescriptor, flags: dataExtentsFlag, segmentsAt: nil, segmentsSize: 0)
    }

    /// The layer as ``MemoryOverlay/ABI`` lays it out.
    var abiLayer: (fileDescriptor: Int32, flags: UInt32, segments: ABI.LayerSegments, countOverride: UInt64?) {
        switch segments {
        case .array(let array): (fileDescriptor, flags, .array(array.array), segmentsSize)
        case .address(let pointer): (fileDescriptor, flags, .address(pointer, count: 0), segmentsSize)
        }
    }

    /// Calls `body` with the C structs of `layers` in one array, every
    /// segments pointer valid during the call.
    static func withCStructs<Result>(_ layers: [RawLayer], _ body: (UnsafeRawPointer?) -> Result) -> Result {
        ABI.withLayers(layers.map(\.abiLayer), body)
    }

    /// Writes `layers` at `address` in the ABI's layout: layers placed by
    /// hand (running into a `PROT_NONE` page, say). Their segments must be
    /// ``Segments/address(_:)``s.
    public static func store(_ layers: [RawLayer], at address: UnsafeMutableRawPointer) {
        let target = address.bindMemory(to: mem_overlay_layer.self, capacity: layers.count)
        for (index, layer) in layers.enumerated() {
            guard case .address(let pointer) = layer.segments else {
                preconditionFailure("stored layers need segments at an address of the caller's")
            }
            target[index] = ABI.layer(fileDescriptor: layer.fileDescriptor, flags: layer.flags, segments: pointer,
                                      count: layer.segmentsSize ?? 0)
        }
    }
}
