// SPDX-License-Identifier: GPL-2.0-or-later

/// An address in the calling process's memory, as an ioctl receives it.
/// Reads and writes go through copy_from_user/copy_to_user: a bad address
/// is an error (EFAULT), never a fault in the kernel.
struct UserPointer {
    let address: UInt64

    init(_ address: UInt64) { self.address = address }
    init(_ pointer: UnsafeMutableRawPointer?) { self.address = UInt64(UInt(bitPattern: pointer)) }

    private var raw: UnsafeRawPointer? { UnsafeRawPointer(bitPattern: UInt(address)) }
    private var mutableRaw: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: UInt(address)) }

    /// Copies `byteCount` bytes from userspace into `destination`.
    func read(into destination: UnsafeMutableRawPointer, byteCount: Int) throws(OverlayError) {
        guard bs_copy_from_user(destination, raw, byteCount) == 0 else { throw .badAddress }
    }

    /// Copies a whole value (an ABI struct) from userspace.
    func read<Value>(into value: inout Value) throws(OverlayError) {
        let result = withUnsafeMutableBytes(of: &value) { bytes in
            bs_copy_from_user(bytes.baseAddress!, raw, bytes.count)
        }
        guard result == 0 else { throw .badAddress }
    }

    /// Copies `byteCount` bytes from `source` to userspace.
    func write(from source: UnsafeRawPointer, byteCount: Int) throws(OverlayError) {
        guard bs_copy_to_user(mutableRaw, source, byteCount) == 0 else { throw .badAddress }
    }
}

extension UserPointer {
    /// Whether the `byteCount` user bytes here are all zero (EFAULT when
    /// they cannot be read).
    func isZeroed(byteCount: Int) throws(OverlayError) -> Bool {
        switch bs_check_zeroed_user(UnsafeRawPointer(bitPattern: UInt(address)), byteCount) {
        case 1: return true
        case 0: return false
        default: throw .badAddress
        }
    }
}
