// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc

/// A mapping made with mmap(2): a range of file pages (or anonymous pages)
/// at an address. A value, not an owner: `unmap()` ends it explicitly.
struct MappedFile {
    /// What is mapped, for diagnostics ("base.bin", "anonymous").
    let name: String
    let address: UnsafeMutableRawPointer
    let length: Int
    /// The file page offset of the first mapped page.
    let firstFilePage: Int

    var pageCount: Int { length / pageSize }
    var filePages: Range<Int> { firstFilePage..<(firstFilePage + pageCount) }
    var end: UnsafeMutableRawPointer { address + length }

    /// Maps `pages` pages of the file at `path` starting at file page
    /// `firstFilePage` (all of the file by default).
    static func map(
        _ path: String, name: String? = nil, firstFilePage: Int = 0, pages: Int? = nil,
        protection: Int32 = PROT_READ, flags: Int32 = MAP_PRIVATE, at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws -> MappedFile {
        let writable = (flags & MAP_SHARED) != 0 && (protection & PROT_WRITE) != 0
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        return try map(fd: fd, name: name ?? path, firstFilePage: firstFilePage, pages: pages,
                       protection: protection, flags: flags, at: fixedAddress)
    }

    /// As `map(_:)`, for a file already open.
    static func map(
        fd: Int32, name: String, firstFilePage: Int = 0, pages: Int? = nil,
        protection: Int32 = PROT_READ, flags: Int32 = MAP_PRIVATE, at fixedAddress: UnsafeMutableRawPointer? = nil
    ) throws -> MappedFile {
        var count = pages ?? 0
        if pages == nil {
            var info = stat()
            if fstat(fd, &info) != 0 { throw SysError("fstat \(name)") }
            count = (Int(info.st_size) + pageSize - 1) / pageSize - firstFilePage
        }
        let length = count * pageSize
        let address = mmap(fixedAddress, length, protection, flags | (fixedAddress != nil ? MAP_FIXED : 0),
                           fd, off_t(firstFilePage * pageSize))
        if address == MAP_FAILED || address == nil { throw SysError("mmap \(name) (\(count) pages)") }
        return MappedFile(name: name, address: address!, length: length, firstFilePage: firstFilePage)
    }

    /// Anonymous private memory (optionally filled with a byte value).
    static func anonymous(pages: Int, protection: Int32 = PROT_READ | PROT_WRITE, fill: UInt8? = nil) throws -> MappedFile {
        let length = pages * pageSize
        let address = mmap(nil, length, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if address == MAP_FAILED || address == nil { throw SysError("mmap anonymous (\(pages) pages)") }
        if let fill { memset(address!, Int32(fill), length) }
        return MappedFile(name: "anonymous", address: address!, length: length, firstFilePage: 0)
    }

    /// An address range that is reserved, then released: nothing is mapped
    /// there (unless something else is mapped there meanwhile).
    static func unmappedAddress(pages: Int = 16) throws -> UnsafeMutableRawPointer {
        let hole = try anonymous(pages: pages, protection: PROT_NONE)
        hole.unmap()
        return hole.address + pageSize
    }

    /// The address of file page `filePage` (which must be mapped).
    func pointer(toFilePage filePage: Int) -> UnsafeMutableRawPointer {
        precondition(filePages.contains(filePage), "\(name): file page \(filePage) is not mapped")
        return address + (filePage - firstFilePage) * pageSize
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
        MappedFile(name: name ?? "\(self.name) pages \(filePages.lowerBound)..<\(filePages.upperBound)",
                   address: pointer(toFilePage: filePages.lowerBound), length: filePages.count * pageSize,
                   firstFilePage: filePages.lowerBound)
    }

    func unmap() {
        munmap(address, length)
    }

    /// /proc/self/map_files/<start>-<end> for this mapping.
    var mapFilesPath: String {
        "/proc/self/map_files/\(hex(UInt(bitPattern: address)))-\(hex(UInt(bitPattern: end)))"
    }
}
