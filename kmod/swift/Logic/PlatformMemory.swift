// SPDX-License-Identifier: GPL-2.0-or-later

/// A fallible allocation of `capacity` values of `Element`, freed on deinit.
///
/// The overlay logic never allocates through the Swift runtime: in the
/// kernel a failed runtime allocation traps (an Oops), while a request that
/// asks for a million segments must fail with ENOMEM. Memory comes from
/// `platformAllocate`/`platformFree`, which the kernel build implements over
/// kmalloc and vmap (Kernel/KernelMemory.swift) and the host build over calloc
/// (Host/HostMemory.swift).
@frozen @usableFromInline  // `discard self` in Embedded Swift needs a frozen layout
struct PlatformBuffer<Element>: ~Copyable {
    let base: UnsafeMutablePointer<Element>
    let capacity: Int

    /// Allocates room for `capacity` elements (at least one); the memory is
    /// zeroed. `chargedToCaller` accounts it to the calling process's memory
    /// cgroup, for memory whose size userspace chooses.
    init(capacity: Int, chargedToCaller: Bool) throws(OverlayError) {
        let count = Swift.max(capacity, 1)
        let (bytes, overflow) = count.multipliedReportingOverflow(
            by: MemoryLayout<Element>.stride)
        guard !overflow,
              let raw = platformAllocate(byteCount: bytes, chargedToCaller: chargedToCaller)
        else { throw .outOfMemory }
        self.init(adopting: raw.bindMemory(to: Element.self, capacity: count), capacity: count)
    }

    private init(adopting base: UnsafeMutablePointer<Element>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    deinit { platformFree(UnsafeMutableRawPointer(base)) }

    /// The same memory, now holding `Other` values of the same size: the
    /// caller has stored them (with `storeBytes`) over the old elements.
    consuming func rebound<Other>(to: Other.Type) -> PlatformBuffer<Other> {
        precondition(MemoryLayout<Other>.stride == MemoryLayout<Element>.stride
            && MemoryLayout<Other>.alignment <= MemoryLayout<Element>.alignment)
        let raw = UnsafeMutableRawPointer(base)
        let capacity = self.capacity
        discard self
        return PlatformBuffer<Other>(adopting: raw.bindMemory(to: Other.self, capacity: capacity),
                                     capacity: capacity)
    }
}
