// SPDX-License-Identifier: GPL-2.0-or-later

/// Single values moved into kernel memory of their own, for the objects
/// whose lifetime the VFS decides (an overlay belongs to its inode, an
/// attachment to its file). The memory is charged to the caller's cgroup.
enum KernelBox {
    static func store<Value: ~Copyable>(_ value: consuming Value) throws(OverlayError) -> UnsafeMutableRawPointer {
        guard let raw = platformAllocate(byteCount: MemoryLayout<Value>.size, chargedToCaller: true) else {
            throw .outOfMemory
        }
        raw.bindMemory(to: Value.self, capacity: 1).initialize(to: value)
        return raw
    }

    /// Deinitialises the value and frees its memory.
    static func destroy<Value: ~Copyable>(_ pointer: UnsafeMutablePointer<Value>) {
        pointer.deinitialize(count: 1)
        platformFree(UnsafeMutableRawPointer(pointer))
    }
}
