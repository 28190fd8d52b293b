// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization
import SystemPackage

/// A file (or anonymous memory) mapped into this process with `mmap(2)`,
/// unmapped when the last reference goes away.
///
/// The mapping covers whole pages: `pages` counts file pages from
/// `firstFilePage`. A base mapping handed to ``OverlayDevice/overlay(base:layer:segments:)``
/// goes on showing the overlay until it is unmapped.
public final class MappedFile: @unchecked Sendable {
    // Sendable: every stored property is immutable or atomic; the mapped
    // memory is the caller's to synchronise, as any shared memory is.

    /// Protection of a mapping (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`).
    public struct Protection: OptionSet, Sendable {
        /// The `PROT_*` bits.
        public let rawValue: CInt
        /// Protection from `PROT_*` bits.
        public init(rawValue: CInt) { self.rawValue = rawValue }
        /// Pages may be read.
        public static let read = Protection(rawValue: PROT_READ)
        /// Pages may be written.
        public static let write = Protection(rawValue: PROT_WRITE)
        /// Pages may be executed.
        public static let execute = Protection(rawValue: PROT_EXEC)
    }

    /// Who sees writes to the mapping.
    public enum Sharing: Sendable {
        /// `MAP_PRIVATE`: writes copy the page; the file never changes. Only
        /// private file mappings can be overlaid.
        case `private`
        /// `MAP_SHARED`: writes go to the file.
        case shared

        var flag: CInt { self == .private ? MAP_PRIVATE : MAP_SHARED }
    }

    /// The first byte of the mapping.
    public let address: UnsafeMutableRawPointer
    /// The mapping's length in bytes (a whole number of pages).
    public let length: Int
    /// The file page offset of the first mapped page (0 for anonymous memory).
    public let firstFilePage: Int
    /// What is mapped, for messages: the file's path, or "anonymous".
    public let name: String
    /// Who unmaps a mapping.
    package enum Lifetime: Sendable {
        /// Unmapped when the last reference goes (every public initialiser's).
        case untilReleased
        /// Unmapped only by the owner, by hand (MemoryOverlayTesting's
        /// `unmap()`), or by the process's exit: for tests that munmap,
        /// mremap and split mappings behind the object's back.
        case untilUnmapped
    }

    /// Who unmaps the memory.
    package let lifetime: Lifetime
    /// Set once the memory was unmapped by hand.
    package let unmapped = Atomic(false)

    /// Maps the file at `path`.
    ///
    /// - Parameters:
    ///   - path: the file to map.
    ///   - protection: the mapping's protection; the file is opened for
    ///     writing only for a shared writable mapping.
    ///   - sharing: private (the default) or shared.
    ///   - firstFilePage: the file page the mapping starts at.
    ///   - pages: how many pages to map; by default up to the end of the
    ///     file (its last partial page included).
    /// - Throws: the `Errno` of `open`, `fstat` or `mmap`.
    public convenience init(
        path: FilePath, protection: Protection = .read, sharing: Sharing = .private,
        firstFilePage: Int = 0, pages: Int? = nil
    ) throws(Errno) {
        let (address, length) = try Self.map(path: path, protection: protection, sharing: sharing,
                                             firstFilePage: firstFilePage, pages: pages, at: nil)
        self.init(address: address, length: length, firstFilePage: firstFilePage, name: path.string,
                  lifetime: .untilReleased)
    }

    /// Opens the file at `path` (for writing only for a shared writable
    /// mapping) and maps it.
    package static func map(
        path: FilePath, protection: Protection, sharing: Sharing, firstFilePage: Int, pages: Int?,
        at fixedAddress: UnsafeMutableRawPointer?
    ) throws(Errno) -> (address: UnsafeMutableRawPointer, length: Int) {
        let writable = sharing == .shared && protection.contains(.write)
        let descriptor = try Errno.rethrowing {
            try FileDescriptor.open(path, writable ? .readWrite : .readOnly, options: .closeOnExec)
        }
        defer { try? descriptor.close() }
        return try map(fileDescriptor: descriptor, protection: protection, sharing: sharing,
                       firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
    }

    /// Maps the file open at `fileDescriptor` (which stays open: the mapping
    /// holds its own reference to the file).
    ///
    /// - Throws: the `Errno` of `fstat` or `mmap`; `EINVAL` for a negative
    ///   page or an empty mapping.
    public convenience init(
        fileDescriptor: FileDescriptor, name: String, protection: Protection = .read,
        sharing: Sharing = .private, firstFilePage: Int = 0, pages: Int? = nil
    ) throws(Errno) {
        let (address, length) = try Self.map(fileDescriptor: fileDescriptor, protection: protection, sharing: sharing,
                                             firstFilePage: firstFilePage, pages: pages, at: nil)
        self.init(address: address, length: length, firstFilePage: firstFilePage, name: name, lifetime: .untilReleased)
    }

    /// Anonymous private memory of `pages` pages, zero-filled.
    ///
    /// - Throws: the `Errno` of `mmap`.
    public convenience init(anonymousPages pages: Int, protection: Protection = [.read, .write]) throws(Errno) {
        let address = try Self.mapAnonymous(pages: pages, protection: protection)
        self.init(address: address, length: pages * MemoryPage.size, firstFilePage: 0, name: "anonymous",
                  lifetime: .untilReleased)
    }

    /// Memory mapped already, unmapped as `lifetime` says.
    package init(address: UnsafeMutableRawPointer, length: Int, firstFilePage: Int, name: String,
                 lifetime: Lifetime) {
        self.address = address
        self.length = length
        self.firstFilePage = firstFilePage
        self.name = name
        self.lifetime = lifetime
    }

    deinit {
        if lifetime == .untilReleased && !unmapped.load(ordering: .acquiring) {
            munmap(address, length)
        }
    }

    /// `mmap` of `pages` pages of the file (up to its end by default) from
    /// `firstFilePage`, at `fixedAddress` (`MAP_FIXED`) if given.
    package static func map(
        fileDescriptor: FileDescriptor, protection: Protection, sharing: Sharing, firstFilePage: Int, pages: Int?,
        at fixedAddress: UnsafeMutableRawPointer?
    ) throws(Errno) -> (address: UnsafeMutableRawPointer, length: Int) {
        var count = pages ?? 0
        if pages == nil {
            var info = stat()
            guard fstat(fileDescriptor.rawValue, &info) == 0 else { throw .current }
            count = MemoryPage.count(coveringBytes: Int(info.st_size)) - firstFilePage
        }
        guard count > 0, firstFilePage >= 0 else { throw .invalidArgument }
        let length = count * MemoryPage.size
        let flags = sharing.flag | (fixedAddress != nil ? MAP_FIXED : 0)
        let address = mmap(fixedAddress, length, protection.rawValue, flags, fileDescriptor.rawValue,
                           off_t(firstFilePage * MemoryPage.size))
        guard let address, address != MAP_FAILED else { throw .current }
        return (address, length)
    }

    /// `mmap` of `pages` pages of anonymous private memory.
    package static func mapAnonymous(pages: Int, protection: Protection) throws(Errno) -> UnsafeMutableRawPointer {
        guard pages > 0 else { throw .invalidArgument }
        let address = mmap(nil, pages * MemoryPage.size, protection.rawValue, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else { throw .current }
        return address
    }

    /// The number of mapped pages.
    public var pageCount: Int { length / MemoryPage.size }

    /// The file page offsets the mapping covers.
    public var filePages: Range<Int> { firstFilePage..<(firstFilePage + pageCount) }

    /// All of the mapping's memory.
    public var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: address, count: length)
    }

    /// The memory of file page `filePage`, which must be mapped.
    public func page(atFilePage filePage: Int) -> UnsafeMutableRawBufferPointer {
        precondition(filePages.contains(filePage), "\(name): file page \(filePage) is not mapped")
        return UnsafeMutableRawBufferPointer(
            start: address + (filePage - firstFilePage) * MemoryPage.size, count: MemoryPage.size)
    }
}
