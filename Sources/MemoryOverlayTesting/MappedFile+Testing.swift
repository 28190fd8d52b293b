// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import Synchronization
import SystemPackage

/// Mappings whose lifetime the test controls. The end-to-end tests munmap,
/// mremap and split mappings behind the object's back, map over them with
/// `MAP_FIXED`, and fork children that must exit with them still mapped:
/// nothing may unmap for them when a reference goes away. Each lives until
/// ``MemoryOverlay/MappedFile/unmap()`` (or the process's exit).
extension MappedFile {
    /// Maps the file at `path`, at `fixedAddress` (`MAP_FIXED`, replacing
    /// what is mapped there) if given; `name` (the path by default) is what
    /// messages call it.
    ///
    /// - Throws: the `Errno` of `open`, `fstat` or `mmap`.
    public static func untilUnmapped(
        path: FilePath, name: String? = nil, protection: Protection = .read, sharing: Sharing = .private,
        firstFilePage: Int = 0, pages: Int? = nil, at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws(Errno) -> MappedFile {
        let (address, length) = try map(path: path, protection: protection, sharing: sharing,
                                        firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
        return MappedFile(address: address, length: length, firstFilePage: firstFilePage,
                          name: name ?? path.string, lifetime: .untilUnmapped)
    }

    /// Maps the file open at `fileDescriptor`, as ``untilUnmapped(path:name:protection:sharing:firstFilePage:pages:at:)``.
    ///
    /// - Throws: the `Errno` of `fstat` or `mmap`.
    public static func untilUnmapped(
        fileDescriptor: FileDescriptor, name: String, protection: Protection = .read,
        sharing: Sharing = .private, firstFilePage: Int = 0, pages: Int? = nil,
        at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws(Errno) -> MappedFile {
        let (address, length) = try map(fileDescriptor: fileDescriptor, protection: protection, sharing: sharing,
                                        firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
        return MappedFile(address: address, length: length, firstFilePage: firstFilePage, name: name,
                          lifetime: .untilUnmapped)
    }

    /// Anonymous private memory of `pages` pages, zero-filled.
    ///
    /// - Throws: the `Errno` of `mmap`.
    public static func untilUnmapped(anonymousPages pages: Int,
                                     protection: Protection = [.read, .write]) throws(Errno) -> MappedFile {
        let address = try mapAnonymous(pages: pages, protection: protection)
        return MappedFile(address: address, length: pages * MemoryPage.size, firstFilePage: 0, name: "anonymous",
                          lifetime: .untilUnmapped)
    }

    /// Memory mapped by other means (what `mremap` returned, a mapping made
    /// with `mmap` directly, part of another mapping): unmapped only by
    /// ``unmap()``.
    public convenience init(mappedAt address: UnsafeMutableRawPointer, length: Int, firstFilePage: Int,
                            name: String) {
        self.init(address: address, length: length, firstFilePage: firstFilePage, name: name,
                  lifetime: .untilUnmapped)
    }

    /// Unmaps the memory now (the first call only); the object then leaves
    /// it alone.
    public func unmap() {
        if !unmapped.exchange(true, ordering: .acquiringAndReleasing) {
            munmap(address, length)
        }
    }
}
