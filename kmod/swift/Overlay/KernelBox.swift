// SPDX-License-Identifier: GPL-2.0-or-later

/// Single values moved into memory of their own, for the objects whose
/// lifetime the VFS decides (an overlay belongs to its inode, an attachment
/// to its file) and for the module's state. Memory for a request's objects
/// is charged to the caller's memory cgroup.
enum KernelBox {
    static func store<Value: ~Copyable>(_ value: consuming Value,
                                        chargedToCaller: Bool = true) throws(OverlayError) -> UnsafeMutableRawPointer {
        guard let raw = platformAllocate(byteCount: MemoryLayout<Value>.size, chargedToCaller: chargedToCaller) else {
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
