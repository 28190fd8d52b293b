// SPDX-License-Identifier: GPL-2.0-or-later
// The host build's memory for the overlay logic (the kernel build uses
// Kernel/KernelMemory.swift instead): calloc and free, with a failure
// injection for tests of the ENOMEM paths.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum HostMemory {
    /// Allocations of at least this many bytes fail, in the current task
    /// only (tests run in parallel).
    @TaskLocal static var failureThreshold: Int? = nil
}

func platformAllocate(byteCount: Int, chargedToCaller: Bool) -> UnsafeMutableRawPointer? {
    if let threshold = HostMemory.failureThreshold, byteCount >= threshold { return nil }
    return calloc(1, byteCount)
}

func platformFree(_ pointer: UnsafeMutableRawPointer) {
    free(pointer)
}
