// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// Mappings whose lifetime the test controls. The end-to-end tests munmap,
/// mremap and split mappings behind the object's back, map over them with
/// `MAP_FIXED`, and fork children that must exit with them still mapped:
/// nothing may unmap for them when a reference goes away.
@_spi(Testing)
extension MappedFile {
    /// Who unmaps a mapping.
    public enum Lifetime: Sendable {
        /// Unmapped when the last reference goes (every public initialiser's).
        case untilReleased
        /// Unmapped only by ``unmap()`` (or the process's exit).
        case untilUnmapped
    }

    /// Maps the file at `path`, at `fixedAddress` (`MAP_FIXED`, replacing
    /// what is mapped there) if given, for `lifetime`; `name` (the path by
    /// default) is what messages call it.
    ///
    /// - Throws: the `Errno` of `open`, `fstat` or `mmap`.
    public convenience init(
        path: FilePath, name: String? = nil, protection: Protection = .read, sharing: Sharing = .private,
        firstFilePage: Int = 0, pages: Int? = nil, at fixedAddress: UnsafeMutableRawPointer? = nil,
        lifetime: Lifetime
    ) throws(Errno) {
        let (address, length) = try Self.map(path: path, protection: protection, sharing: sharing,
                                             firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
        self.init(address: address, length: length, firstFilePage: firstFilePage, name: name ?? path.string,
                  lifetime: lifetime)
    }

    /// Maps the file open at `fileDescriptor`, for `lifetime`.
    ///
    /// - Throws: the `Errno` of `fstat` or `mmap`.
    public convenience init(
        fileDescriptor: FileDescriptor, name: String, protection: Protection = .read,
        sharing: Sharing = .private, firstFilePage: Int = 0, pages: Int? = nil,
        at fixedAddress: UnsafeMutableRawPointer? = nil, lifetime: Lifetime
    ) throws(Errno) {
        let (address, length) = try Self.map(fileDescriptor: fileDescriptor, protection: protection,
                                             sharing: sharing, firstFilePage: firstFilePage, pages: pages,
                                             at: fixedAddress)
        self.init(address: address, length: length, firstFilePage: firstFilePage, name: name, lifetime: lifetime)
    }

    /// Anonymous private memory of `pages` pages, zero-filled, for `lifetime`.
    ///
    /// - Throws: the `Errno` of `mmap`.
    public convenience init(anonymousPages pages: Int, protection: Protection = [.read, .write],
                            lifetime: Lifetime) throws(Errno) {
        let address = try Self.mapAnonymous(pages: pages, protection: protection)
        self.init(address: address, length: pages * MemoryPage.size, firstFilePage: 0, name: "anonymous",
                  lifetime: lifetime)
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
