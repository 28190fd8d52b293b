// SPDX-License-Identifier: GPL-2.0-or-later

// The kernel build's memory for the overlay logic (Logic/PlatformMemory.swift):
// kmalloc, or for a large segment table pages mapped with vmap (the glue's
// bs_kvzalloc says why not vmalloc), charged to the caller's memory cgroup
// when userspace chose its size.

func platformAllocate(byteCount: Int, chargedToCaller: Bool) -> UnsafeMutableRawPointer? {
    bs_kvzalloc(byteCount, chargedToCaller)
}

func platformFree(_ pointer: UnsafeMutableRawPointer) {
    bs_kvfree(pointer)
}
