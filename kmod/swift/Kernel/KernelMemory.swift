// SPDX-License-Identifier: GPL-2.0-or-later

// The kernel build's memory for the overlay logic (Logic/PlatformMemory.swift):
// kvzalloc, so that a large segment table falls back to vmalloc, and
// charged to the caller's memory cgroup when userspace chose its size.

func platformAllocate(byteCount: Int, chargedToCaller: Bool) -> UnsafeMutableRawPointer? {
    bs_kvzalloc(byteCount, chargedToCaller)
}

func platformFree(_ pointer: UnsafeMutableRawPointer) {
    bs_kvfree(pointer)
}
