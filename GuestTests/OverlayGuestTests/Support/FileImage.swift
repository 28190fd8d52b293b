// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// What a file holds, read with pread(2) (never through a mapping), page by
/// page: the reference the mappings are compared with. Either loaded whole
/// into memory or, for files larger than the memory a test may use, read
/// page by page on demand.
final class FileImage: @unchecked Sendable {
    /// The file name used in diagnostics ("overlay.bin").
    let name: String
    let size: Int
    private let contents: UnsafeMutableRawBufferPointer?  // page-padded with zeros
    private let fd: Int32  // for on-demand reads; -1 when loaded

    /// Pages the file covers; the last one may be partial (zero-filled past
    /// the end, as a mapping shows it). Pages from here on are past its end.
    var pageCount: Int { (size + pageSize - 1) / pageSize }

    private init(name: String, size: Int, contents: UnsafeMutableRawBufferPointer?, fd: Int32) {
        self.name = name
        self.size = size
        self.contents = contents
        self.fd = fd
    }

    deinit {
        contents?.deallocate()
        if fd >= 0 { close(fd) }
    }

    /// What the file of an overlay showing `view` holds (private writes
    /// aside): each page from the layer that serves it, the base file's size.
    static func composed(_ view: ExpectedView, name: String) -> FileImage {
        let size = view.base.size
        let padded = max(pageSize, (size + pageSize - 1) / pageSize * pageSize)
        let contents = UnsafeMutableRawBufferPointer.allocate(byteCount: padded, alignment: pageSize)
        contents.initializeMemory(as: UInt8.self, repeating: 0)
        for page in 0..<(padded / pageSize) {
            let bytes = view.layer(servingPage: page).bytes(ofPage: page)
            bytes.withUnsafeBytes { source in
                (contents.baseAddress! + page * pageSize).copyMemory(from: source.baseAddress!,
                                                                      byteCount: min(source.count, pageSize))
            }
        }
        return FileImage(name: name, size: size, contents: contents, fd: -1)
    }

    /// Reads the whole file at `path` into memory.
    static func load(_ path: String, name: String? = nil) throws -> FileImage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        return try load(fd: fd, name: name ?? path)
    }

    /// Reads the whole file open at `fd` into memory.
    static func load(fd: Int32, name: String) throws -> FileImage {
        var info = stat()
        if fstat(fd, &info) != 0 { throw SysError("fstat \(name)") }
        let size = Int(info.st_size)
        let padded = max(pageSize, (size + pageSize - 1) / pageSize * pageSize)
        let contents = UnsafeMutableRawBufferPointer.allocate(byteCount: padded, alignment: pageSize)
        contents.initializeMemory(as: UInt8.self, repeating: 0)
        var offset = 0
        while offset < size {
            let n = pread(fd, contents.baseAddress! + offset, min(1 << 20, size - offset), off_t(offset))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let error = n < 0 ? Errno.current : Errno(rawValue: EIO)
                contents.deallocate()
                throw SysError("pread \(name) at \(offset)", error)
            }
            offset += n
        }
        return FileImage(name: name, size: size, contents: contents, fd: -1)
    }

    /// Opens the file at `path` for page-by-page reads.
    static func onDemand(_ path: String, name: String? = nil) throws -> FileImage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        var info = stat()
        if fstat(fd, &info) != 0 { close(fd); throw SysError("fstat \(path)") }
        return FileImage(name: name ?? path, size: Int(info.st_size), contents: nil, fd: fd)
    }

    /// The file open at `fd` (a scratch file, unlinked) for page-by-page
    /// reads, through a descriptor of its own.
    static func onDemand(fd: Int32, name: String) throws -> FileImage {
        let own = dup(fd)
        if own < 0 { throw SysError("dup \(name)") }
        var info = stat()
        if fstat(own, &info) != 0 { close(own); throw SysError("fstat \(name)") }
        return FileImage(name: name, size: Int(info.st_size), contents: nil, fd: own)
    }

    /// Page `page` (< pageCount): a pointer into the loaded contents, or,
    /// on demand, into `scratch` (one page) after reading it there.
    func page(_ page: Int, scratch: UnsafeMutableRawPointer) throws -> UnsafeRawPointer {
        precondition(page >= 0 && page < pageCount, "\(name): page \(page) out of range")
        if let contents { return UnsafeRawPointer(contents.baseAddress! + page * pageSize) }
        memset(scratch, 0, pageSize)
        let wanted = min(pageSize, size - page * pageSize)
        var done = 0
        while done < wanted {
            let n = pread(fd, scratch + done, wanted - done, off_t(page * pageSize + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw SysError("pread \(name) page \(page)", n < 0 ? .current : Errno(rawValue: EIO)) }
            done += n
        }
        return UnsafeRawPointer(scratch)
    }

    /// Page `page` of a loaded image as bytes.
    func bytes(ofPage page: Int) -> [UInt8] {
        precondition(contents != nil && page < pageCount)
        return Array(UnsafeRawBufferPointer(start: contents!.baseAddress! + page * pageSize, count: pageSize))
    }

    /// Whether two loaded images hold the same bytes (the file did not change).
    func sameContents(as other: FileImage) -> Bool {
        guard let contents, let otherContents = other.contents, size == other.size else { return false }
        return memcmp(contents.baseAddress!, otherContents.baseAddress!, size) == 0
    }

    /// The first page where two loaded images differ, for diagnostics.
    func firstDifferingPage(from other: FileImage) -> Int? {
        guard let contents, let otherContents = other.contents else { return nil }
        for page in 0..<min(pageCount, other.pageCount)
        where memcmp(contents.baseAddress! + page * pageSize, otherContents.baseAddress! + page * pageSize, pageSize) != 0 {
            return page
        }
        return nil
    }

    /// The pages of this (loaded) image equal to `content`, for naming what
    /// a mapping shows instead of the expected page.
    func pagesEqual(to content: UnsafeRawPointer) -> [Int] {
        guard let contents else { return [] }
        var found: [Int] = []
        for page in 0..<pageCount where memcmp(contents.baseAddress! + page * pageSize, content, pageSize) == 0 {
            found.append(page)
            if found.count == 4 { break }
        }
        return found
    }

    var isLoaded: Bool { contents != nil }
}
