// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// The memory one method set up, where the touches run, and what keeps it
/// alive (mappings, a handler thread).
final class BenchRegion {
    /// The first byte: file page 0 of the composed view.
    let address: UnsafeMutableRawPointer
    /// Pages of the view.
    let pages: Int
    /// Objects the view needs while it is used (mappings, the overlay, the
    /// handler).
    private let owners: [AnyObject]
    /// The overlay the view shows, if the method made one: one owner,
    /// never copied, so it is not among `owners`.
    private let overlay: Overlay?
    /// Runs when the region is released (stopping a handler thread).
    private let onRelease: () -> Void

    init(address: UnsafeMutableRawPointer, pages: Int, owners: [AnyObject], overlay: consuming Overlay? = nil,
         onRelease: @escaping () -> Void = {}) {
        self.address = address
        self.pages = pages
        self.owners = owners
        self.overlay = overlay
        self.onRelease = onRelease
    }

    deinit { onRelease() }

    /// Bytes of the view.
    var length: Int { pages * MemoryPage.size }
}

/// Anonymous private memory, unmapped with its last reference. Reserved
/// with `MAP_NORESERVE`: the setup-only runs map far more than the machine
/// has, and only what is touched is ever allocated.
final class BenchAnonymousMemory {
    let address: UnsafeMutableRawPointer
    let length: Int

    /// - Throws: `BenchError.failed` with the errno of `mmap`.
    init(pages: Int) throws(BenchError) {
        length = pages * MemoryPage.size
        let result = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let result, result != MAP_FAILED else { throw .call("mmap of \(pages) anonymous pages", .current) }
        address = result
    }

    deinit { munmap(address, length) }
}
