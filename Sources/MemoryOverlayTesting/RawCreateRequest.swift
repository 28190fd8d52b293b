// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import MemoryOverlay

/// A create request (`struct mem_overlay_req`) holding whatever it is given:
/// addresses of nothing, a segments pointer to anywhere, a `segments_size`
/// that lies. Sent with ``MemoryOverlay/OverlayDevice/create(_:)`` or
/// ``MemoryOverlay/OverlayDevice/send(_:command:)``, or written anywhere with
/// ``store(at:byteCount:)``.
public struct RawCreateRequest {
    /// Where the request's `segments` pointer points.
    public enum Segments {
        /// An array of the request's own, pointed at while it is sent.
        case array(RawSegments)
        /// Any address: NULL, unmapped, `PROT_NONE`, segments placed by hand.
        case address(UnsafeRawPointer?)
    }

    /// The size of `struct mem_overlay_req` (48 bytes on x86-64).
    public static let size = MemoryLayout<mem_overlay_req>.size

    /// `base_addr`.
    public var baseAddress: UnsafeRawPointer?
    /// `overlay_addr`.
    public var overlayAddress: UnsafeRawPointer?
    /// What `segments` points at.
    public var segments: Segments
    /// `segments_size`; nil: the array's count (0 for an address).
    public var segmentsSize: UInt32?

    /// A request whose segments are `segments`, counted by `segmentsSize`
    /// (the array's count unless given).
    public init(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?, segments: RawSegments,
                segmentsSize: UInt32? = nil) {
        self.baseAddress = baseAddress
        self.overlayAddress = overlayAddress
        self.segments = .array(segments)
        self.segmentsSize = segmentsSize
    }

    /// A request whose segments pointer is `address`, whatever is there.
    public init(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?,
                segmentsAt address: UnsafeRawPointer?, segmentsSize: UInt32) {
        self.baseAddress = baseAddress
        self.overlayAddress = overlayAddress
        self.segments = .address(address)
        self.segmentsSize = segmentsSize
    }

    /// Calls `body` with the C struct (its `id` all zeros), whose segments
    /// pointer is valid during the call.
    func withCStruct<Result>(_ body: (inout mem_overlay_req) -> Result) -> Result {
        func make(_ pointer: UnsafeRawPointer?, count: Int) -> mem_overlay_req {
            ABI.createRequest(base: baseAddress, overlay: overlayAddress, segments: pointer,
                              count: segmentsSize ?? UInt32(truncatingIfNeeded: count))
        }
        switch segments {
        case .array(let array):
            return array.withUnsafeAddress { pointer in
                var request = make(pointer, count: array.count)
                return body(&request)
            }
        case .address(let pointer):
            var request = make(pointer, count: 0)
            return body(&request)
        }
    }

    /// Writes the first `byteCount` bytes of the C struct at `address`: a
    /// request in memory the test chose (a read-only page, or running into
    /// a `PROT_NONE` page, with only its readable part written). The
    /// segments must be an ``Segments/address(_:)``: an array's address
    /// would not outlive this call.
    public func store(at address: UnsafeMutableRawPointer, byteCount: Int = RawCreateRequest.size) {
        guard case .address = segments else {
            preconditionFailure("a stored request needs segments at an address of the caller's")
        }
        precondition(byteCount >= 0 && byteCount <= Self.size)
        withCStruct { request in
            _ = withUnsafeBytes(of: &request) { memcpy(address, $0.baseAddress!, byteCount) }
        }
    }
}
