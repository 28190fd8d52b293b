// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// The library's mappings as the scenarios use them: made with `PROT_*` and
/// `MAP_*` flags, living until `unmap()` (the scenarios munmap, mremap and
/// split mappings themselves, and fork children that exit with them still
/// mapped), read and written with faults reported as values.
extension MappedFile {
    /// Maps `pages` pages of the file at `path` starting at file page
    /// `firstFilePage` (all of the file by default).
    static func map(
        _ path: String, name: String? = nil, firstFilePage: Int = 0, pages: Int? = nil,
        protection: Int32 = PROT_READ, flags: Int32 = MAP_PRIVATE, at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws -> MappedFile {
        do {
            return try MappedFile.untilUnmapped(path: FilePath(path), name: name,
                                                protection: Protection(rawValue: protection), sharing: sharing(flags),
                                                firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
        } catch {
            throw SysError("map \(name ?? path)", error)
        }
    }

    /// As `map(_:)`, for a file already open.
    static func map(
        fd: Int32, name: String, firstFilePage: Int = 0, pages: Int? = nil,
        protection: Int32 = PROT_READ, flags: Int32 = MAP_PRIVATE, at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws -> MappedFile {
        do {
            return try MappedFile.untilUnmapped(fileDescriptor: FileDescriptor(rawValue: fd), name: name,
                                                protection: Protection(rawValue: protection), sharing: sharing(flags),
                                                firstFilePage: firstFilePage, pages: pages, at: fixedAddress)
        } catch {
            throw SysError("map \(name)", error)
        }
    }

    private static func sharing(_ flags: Int32) -> Sharing {
        flags & MAP_SHARED != 0 ? .shared : .private
    }

    /// Anonymous private memory (optionally filled with a byte value).
    static func anonymous(pages: Int, protection: Int32 = PROT_READ | PROT_WRITE, fill: UInt8? = nil) throws -> MappedFile {
        let mapping: MappedFile
        do {
            mapping = try MappedFile.untilUnmapped(anonymousPages: pages, protection: Protection(rawValue: protection))
        } catch {
            throw SysError("mmap anonymous (\(pages) pages)", error)
        }
        if let fill { memset(mapping.address, Int32(fill), mapping.length) }
        return mapping
    }

    /// An address range that is reserved, then released: nothing is mapped
    /// there (unless something else is mapped there meanwhile).
    static func unmappedAddress(pages: Int = 16) throws -> UnsafeMutableRawPointer {
        let hole = try anonymous(pages: pages, protection: PROT_NONE)
        hole.unmap()
        return hole.address + pageSize
    }

    var end: UnsafeMutableRawPointer { address + length }

    /// The address of file page `filePage` (which must be mapped).
    func pointer(toFilePage filePage: Int) -> UnsafeMutableRawPointer {
        page(atFilePage: filePage).baseAddress!
    }

    /// An address inside the mapping (not at its start), to show that any
    /// address of a mapping identifies it.
    var innerAddress: UnsafeMutableRawPointer {
        address + (pageCount / 2) * pageSize + 123
    }

    /// Copies file page `filePage` into `destination`; returns 0 or the
    /// signal (SIGBUS, SIGSEGV) the access raised.
    func read(filePage: Int, into destination: UnsafeMutableRawPointer) -> Int32 {
        batch_syscalls_probe_copy(destination, pointer(toFilePage: filePage), pageSize)
    }

    /// Writes `bytes` at `offset` of file page `filePage`; returns 0 or the
    /// signal the access raised.
    func write(filePage: Int, offset: Int = 0, bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { buffer in
            batch_syscalls_probe_copy(pointer(toFilePage: filePage) + offset, buffer.baseAddress!, buffer.count)
        }
    }

    /// Reads each of `filePages` once (a first touch), ignoring faults.
    func touch(_ filePages: some Sequence<Int>) {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { scratch.deallocate() }
        for page in filePages { _ = read(filePage: page, into: scratch) }
    }

    /// The pages `filePages` of this mapping as a mapping of their own (what
    /// is left of it after a partial munmap, or a part after a split).
    func part(_ filePages: Range<Int>, name: String? = nil) -> MappedFile {
        MappedFile(mappedAt: pointer(toFilePage: filePages.lowerBound), length: filePages.count * pageSize,
                   firstFilePage: filePages.lowerBound,
                   name: name ?? "\(self.name) pages \(filePages.lowerBound)..<\(filePages.upperBound)")
    }

    /// /proc/self/map_files/<start>-<end> for this mapping.
    var mapFilesPath: String {
        "/proc/self/map_files/\(hex(UInt(bitPattern: address)))-\(hex(UInt(bitPattern: end)))"
    }
}
