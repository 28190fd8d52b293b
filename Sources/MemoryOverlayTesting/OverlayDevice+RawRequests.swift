// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import MemoryOverlay
import SystemPackage

/// The device's requests as the ABI has them, for tests: the create request
/// with any content (``RawCreateRequest``), the v2 stack request with any
/// content (``RawStackRequest``), the cleanup request by id, and
/// any ioctl command with any argument. Failures are the raw `Errno`s: the
/// tests compare them with the ABI's table.
extension OverlayDevice {
    /// `IOCTL_MEM_OVERLAY_REQ_CMD`.
    public static let createCommand: UInt = ABI.createCommand
    /// `IOCTL_MEM_OVERLAY_CLEANUP_CMD`.
    public static let cleanupCommand: UInt = ABI.cleanupCommand
    /// `IOCTL_MEM_OVERLAY_STACK_CMD` (ABI v2).
    public static let stackCommand: UInt = ABI.stackCommand

    /// The direction bits of an ioctl command number.
    public struct IoctlDirection: OptionSet, Sendable {
        /// The bits, as `_IOC_WRITE` (1) and `_IOC_READ` (2) have them.
        public let rawValue: UInt
        /// Direction from `_IOC_*` bits.
        public init(rawValue: UInt) { self.rawValue = rawValue }
        /// `_IOC_WRITE`: userspace writes the argument.
        public static let write = IoctlDirection(rawValue: 1)
        /// `_IOC_READ`: userspace reads the argument.
        public static let read = IoctlDirection(rawValue: 2)
    }

    /// A command number as `_IOC(direction, type, number, size)` makes it
    /// (the asm-generic layout, as on x86-64): direction bits 30-31, size
    /// bits 16-29, type bits 8-15, number bits 0-7.
    public static func command(_ direction: IoctlDirection, type: Character, number: UInt8, size: Int) -> UInt {
        direction.rawValue << 30 | UInt(size & 0x3FFF) << 16 | UInt(type.asciiValue ?? 0) << 8 | UInt(number)
    }

    /// ioctl(2) on the device with any command and argument.
    ///
    /// - Returns: nil on success, or the errno.
    public func ioctl(_ command: UInt, _ argument: UnsafeMutableRawPointer?) -> Errno? {
        ABI.ioctl(fileDescriptor, command, argument)
    }

    /// Sends `request` (from memory of its own) with the ioctl `command`.
    ///
    /// - Returns: nil or the errno, and what the request's `id` field holds
    ///   afterwards (all zeros unless the kernel wrote an id back).
    public func send(_ request: RawCreateRequest, command: UInt) -> (error: Errno?, id: OverlayID) {
        request.withCStruct { raw in
            let error = ioctl(command, &raw)
            return (error, OverlayID(tuple: raw.id))
        }
    }

    /// The create request (`IOCTL_MEM_OVERLAY_REQ_CMD`) as `request` has it.
    ///
    /// - Returns: the id the module gave (the caller cleans it up with
    ///   ``cleanup(_:)``), or the module's errno.
    public func create(_ request: RawCreateRequest) -> Result<OverlayID, Errno> {
        let (error, id) = send(request, command: Self.createCommand)
        if let error { return .failure(error) }
        return .success(id)
    }

    /// Sends the v2 `request` (from memory of its own, `size` bytes and
    /// more) with the ioctl `command`.
    ///
    /// - Returns: nil or the errno, and what the request's `id` field holds
    ///   afterwards (all zeros unless the kernel wrote an id back).
    public func send(_ request: RawStackRequest, command: UInt) -> (error: Errno?, id: OverlayID) {
        request.withBytes { bytes in
            let error = ioctl(command, bytes.baseAddress)
            let id = Array(bytes[RawStackRequest.idOffset..<(RawStackRequest.idOffset + 16)])
            return (error, OverlayID(bytes: id)!)
        }
    }

    /// The v2 stack request (`IOCTL_MEM_OVERLAY_STACK_CMD`) as `request`
    /// has it.
    ///
    /// - Returns: the id the module gave (the caller cleans it up with
    ///   ``cleanup(_:)``), or the module's errno.
    public func stack(_ request: RawStackRequest) -> Result<OverlayID, Errno> {
        let (error, id) = send(request, command: Self.stackCommand)
        if let error { return .failure(error) }
        return .success(id)
    }

    /// The cleanup request (`IOCTL_MEM_OVERLAY_CLEANUP_CMD`) for any id:
    /// releases it. The mapping goes on showing the overlay until it is
    /// unmapped.
    ///
    /// - Throws: `ENOENT` for an unknown id, `EPERM` when another process
    ///   created the overlay.
    public func cleanup(_ id: OverlayID) throws(Errno) {
        var request = mem_overlay_cleanup_req()
        request.id = id.tuple
        if let error = ioctl(Self.cleanupCommand, &request) { throw error }
    }
}
