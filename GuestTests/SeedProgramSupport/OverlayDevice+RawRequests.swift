// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc

/// Requests the library's safe API cannot express, for the error program:
/// a create request whose segments pointer is any address, and any ioctl
/// command number.
extension OverlayDevice {
    /// The create request (`IOCTL_MEM_OVERLAY_REQ_CMD`) with `count`
    /// segments read from `segments`, which may point anywhere (unmapped,
    /// `PROT_NONE`): the kernel must refuse what it cannot read.
    ///
    /// - Returns: the id on success (the caller cleans it up), or the errno.
    public func createRaw(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?,
                          segments: UnsafeRawPointer?, count: UInt32) -> Result<OverlayID, Errno> {
        var request = mem_overlay_req()
        request.base_addr = UInt(bitPattern: baseAddress)
        request.overlay_addr = UInt(bitPattern: overlayAddress)
        request.segments_size = count
        request.segments = UnsafeMutablePointer(
            mutating: segments?.assumingMemoryBound(to: mem_overlay_segment_req.self))
        guard batch_syscalls_ioctl(fileDescriptor.rawValue, batch_syscalls_create_cmd, &request) == 0 else {
            return .failure(Errno(rawValue: errno))
        }
        let id = withUnsafeBytes(of: request.id) { OverlayID(bytes: Array($0)) }
        guard let id else { preconditionFailure("the ABI's id has 16 bytes") }
        return .success(id)
    }

    /// ioctl(2) on the device with any command and argument.
    ///
    /// - Returns: nil on success, or the errno.
    public func rawIoctl(_ command: UInt, _ argument: UnsafeMutableRawPointer?) -> Errno? {
        batch_syscalls_ioctl(fileDescriptor.rawValue, command, argument) == 0 ? nil : Errno(rawValue: errno)
    }

    /// `IOCTL_MEM_OVERLAY_REQ_CMD`.
    public static let createCommand = batch_syscalls_create_cmd
    /// `IOCTL_MEM_OVERLAY_CLEANUP_CMD`.
    public static let cleanupCommand = batch_syscalls_cleanup_cmd

    /// An ioctl number as `_IOWR(type, number, size)` makes it (asm-generic
    /// layout, as on x86-64): direction bits 30-31, size bits 16-29, type
    /// bits 8-15, number bits 0-7.
    public static func readWriteCommand(type: Character, number: UInt8, size: Int) -> UInt {
        let readWrite: UInt = 3
        let typeByte = UInt(type.asciiValue ?? 0)
        return readWrite << 30 | UInt(size & 0x3FFF) << 16 | typeByte << 8 | UInt(number)
    }

    /// A create request for ``rawIoctl(_:_:)``: the bytes of a
    /// `struct mem_overlay_req` whose segments live in `segments` (which
    /// must outlive every use of the request).
    public static func createRequest(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?,
                                     segments: UnsafeRawBufferPointer) -> RawCreateRequest {
        RawCreateRequest(baseAddress: baseAddress, overlayAddress: overlayAddress, segments: segments)
    }
}

/// A `struct mem_overlay_req` in memory of its own, for requests sent with
/// ``OverlayDevice/rawIoctl(_:_:)``.
public final class RawCreateRequest {
    private let request: UnsafeMutablePointer<mem_overlay_req>

    init(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?, segments: UnsafeRawBufferPointer) {
        request = .allocate(capacity: 1)
        request.initialize(to: mem_overlay_req())
        request.pointee.base_addr = UInt(bitPattern: baseAddress)
        request.pointee.overlay_addr = UInt(bitPattern: overlayAddress)
        request.pointee.segments_size = UInt32(segments.count / MemoryLayout<mem_overlay_segment_req>.stride)
        request.pointee.segments = UnsafeMutablePointer(
            mutating: segments.baseAddress?.assumingMemoryBound(to: mem_overlay_segment_req.self))
    }

    deinit {
        request.deallocate()
    }

    /// The size of `struct mem_overlay_req` (48 bytes on x86-64): what an
    /// ioctl number that encoded the struct, not a pointer, would carry.
    public static let size = MemoryLayout<mem_overlay_req>.size

    /// The request's address, the ioctl's argument.
    public var address: UnsafeMutableRawPointer { UnsafeMutableRawPointer(request) }

    /// Whether the `id` field is still all zeros (no request wrote it back).
    public var idIsUnwritten: Bool {
        withUnsafeBytes(of: request.pointee.id) { $0.allSatisfy { $0 == 0 } }
    }

    /// The id the kernel wrote back, for cleaning up after a request that
    /// should have been refused.
    public var id: OverlayID? {
        withUnsafeBytes(of: request.pointee.id) { OverlayID(bytes: Array($0)) }
    }
}

/// The segments of a request as the ABI lays them out (16 bytes each).
public enum RawSegments {
    /// The size of one `struct mem_overlay_segment_req`.
    public static let stride = MemoryLayout<mem_overlay_segment_req>.stride

    /// Writes `pairs` at `address` as ABI segments.
    public static func store(_ pairs: [(start: UInt, end: UInt)], at address: UnsafeMutableRawPointer) {
        let segments = address.bindMemory(to: mem_overlay_segment_req.self, capacity: pairs.count)
        for (index, pair) in pairs.enumerated() {
            segments[index] = mem_overlay_segment_req(start_pgoff: pair.start, end_pgoff: pair.end)
        }
    }
}
