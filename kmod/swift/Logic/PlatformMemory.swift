// SPDX-License-Identifier: GPL-2.0-or-later

/// A fallible allocation of `count` values of `Element`, freed on deinit.
///
/// The overlay logic never allocates through the Swift runtime: in the
/// kernel a failed runtime allocation traps (an Oops), while a request that
/// asks for a million segments must fail with ENOMEM. Memory comes from
/// `platformAllocate`/`platformFree`, which the kernel build implements over
/// kvmalloc (Kernel/KernelMemory.swift) and the host build over malloc
/// (Host/HostMemory.swift).
struct PlatformBuffer<Element>: ~Copyable {
    let base: UnsafeMutablePointer<Element>
    let capacity: Int

    /// Allocates room for `capacity` elements (at least one); the memory is
    /// zeroed. `chargedToCaller` accounts it to the calling process's memory
    /// cgroup, for memory whose size userspace chooses.
    init(capacity: Int, chargedToCaller: Bool) throws(OverlayError) {
        let count = capacity > 0 ? capacity : 1
        let (bytes, overflow) = count.multipliedReportingOverflow(
            by: MemoryLayout<Element>.stride)
        guard !overflow,
              let raw = platformAllocate(byteCount: bytes, chargedToCaller: chargedToCaller)
        else { throw .outOfMemory }
        self.base = raw.bindMemory(to: Element.self, capacity: count)
        self.capacity = count
    }

    deinit { platformFree(UnsafeMutableRawPointer(base)) }
}
