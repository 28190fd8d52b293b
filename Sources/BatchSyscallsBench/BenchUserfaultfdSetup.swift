// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// A Firecracker-style restore: anonymous memory registered with
/// userfaultfd for missing faults, and a handler thread that fills each page
/// on its first touch from the base or the overlay file per the segments.
enum BenchUserfaultfdSetup {
    /// Why the method cannot run here, or nil: the system call must exist
    /// and be allowed.
    static func unavailability() -> String? {
        do {
            _ = try openUserfaultfd()
            return nil
        } catch {
            return "userfaultfd: \(error.name)"
        }
    }

    /// A non-blocking userfaultfd for this process's user-mode faults.
    private static func openUserfaultfd() throws(Errno) -> Userfaultfd {
        try Userfaultfd(nonBlocking: true, userModeOnly: true)
    }

    /// A userfaultfd with `memory` registered for missing faults.
    static func register(_ memory: BenchAnonymousMemory) throws(BenchError) -> Userfaultfd {
        let userfaultfd: Userfaultfd
        do {
            userfaultfd = try openUserfaultfd()
        } catch {
            throw .unavailable("userfaultfd or UFFDIO_API: \(error.name)")
        }
        do {
            try userfaultfd.registerMissing(memory.address, length: memory.length)
        } catch {
            throw .call("UFFDIO_REGISTER", error)
        }
        return userfaultfd
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
        let userfaultfd = try register(memory)
        let handler = BenchUserfaultHandler(userfaultfd: userfaultfd, region: memory.address, layout: input.layout,
                                            dirtyPages: input.dirtyPages, base: base.address, overlay: overlay.address)
        try handler.start()
        // The handler stops before the memory and the sources go.
        return BenchRegion(address: memory.address, pages: pages, owners: [handler, memory, base, overlay],
                           onRelease: { handler.stop() })
    }
}
