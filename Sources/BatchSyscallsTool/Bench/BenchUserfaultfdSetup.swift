// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import MemoryOverlay
import SystemPackage

/// A Firecracker-style restore: anonymous memory registered with
/// userfaultfd for missing faults, and a handler thread that fills each page
/// on its first touch from the base or the overlay file per the segments.
enum BenchUserfaultfdSetup {
    /// Why the method cannot run here, or nil: the system call must exist
    /// and be allowed.
    static func unavailability() -> String? {
        let descriptor = openUserfaultfd()
        guard descriptor >= 0 else { return "userfaultfd: \(Errno.benchCurrent.name)" }
        close(descriptor)
        return nil
    }

    /// A non-blocking userfaultfd for this process's user-mode faults
    /// (`UFFD_USER_MODE_ONLY` lets a user other than root have one; a kernel
    /// before 5.11 does not know the flag and gets the plain call).
    private static func openUserfaultfd() -> CInt {
        let flags = O_CLOEXEC | O_NONBLOCK
        let descriptor = batch_syscalls_userfaultfd(flags | UFFD_USER_MODE_ONLY)
        if descriptor < 0 && errno == EINVAL { return batch_syscalls_userfaultfd(flags) }
        return descriptor
    }

    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let pages = input.layout.pages
        let base: MappedFile
        let overlay: MappedFile
        do {
            base = try MappedFile(path: input.files.base, protection: .read, pages: pages)
            overlay = try MappedFile(path: input.files.overlay, protection: .read, pages: pages)
        } catch {
            throw .call("mmap of the data files", error)
        }
        let memory = try BenchAnonymousMemory(pages: pages)
        let descriptor = openUserfaultfd()
        guard descriptor >= 0 else { throw .unavailable("userfaultfd: \(Errno.benchCurrent.name)") }
        var api = uffdio_api()
        api.api = UInt64(batch_syscalls_uffd_api)
        guard batch_syscalls_ioctl(descriptor, batch_syscalls_uffdio_api_cmd, &api) == 0 else {
            let error = Errno.benchCurrent
            close(descriptor)
            throw .call("UFFDIO_API", error)
        }
        var register = uffdio_register()
        register.range.start = UInt64(UInt(bitPattern: memory.address))
        register.range.len = UInt64(memory.length)
        register.mode = UInt64(batch_syscalls_uffdio_register_mode_missing)
        guard batch_syscalls_ioctl(descriptor, batch_syscalls_uffdio_register_cmd, &register) == 0 else {
            let error = Errno.benchCurrent
            close(descriptor)
            throw .call("UFFDIO_REGISTER", error)
        }
        let handler = BenchUserfaultHandler(descriptor: descriptor, region: memory.address, layout: input.layout,
                                            base: base.address, overlay: overlay.address)
        try handler.start()
        // The handler stops before the memory and the sources go.
        return BenchRegion(address: memory.address, pages: pages, owners: [handler, memory, base, overlay],
                           onRelease: { handler.stop() })
    }
}
