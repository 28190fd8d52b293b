// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// A layer file of a snapshot chain written by a scenario on the test disk
/// (the working directory, ext4): `pages` pages long, holding pseudo-random
/// pages at `data`, a few bytes at `partial` offsets, and holes everywhere
/// else. Written and reopened read-only (as a restore opens a diff),
/// unlinked at once; `image` reads it with pread for the model.
struct SparseLayer {
    /// The read-only descriptor the requests name.
    let fd: Int32
    let name: String
    let image: FileImage
    /// The pages written whole.
    let data: [ClosedRange<Int>]
    /// Pages holding only a few bytes (the rest zeros).
    let partialPages: [Int]

    /// The pages holding data, as SEEK_DATA sees them on ext4 (4 KiB blocks).
    var dataPages: PageSet { PageSet(data + partialPages.map { $0...$0 }) }

    /// Writes the file, `pages` pages long (or `bytes` bytes, ending inside
    /// a page). `stream` picks the pages' pattern (a page names its stream
    /// and number in its first bytes); each page of `partial` gets 100
    /// bytes at offset 1000 (or up to the file's end).
    static func write(name: String, pages: Int, bytes: Int? = nil, data: [ClosedRange<Int>], partial: [Int] = [],
                      stream: UInt32) throws -> SparseLayer {
        let scratch = try ScratchFile.create(name: name)
        defer { scratch.close() }
        let size = bytes ?? pages * pageSize
        try scratch.truncate(bytes: size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        let pattern = PagePattern.seeded(stream: stream)
        for range in data {
            for page in range {
                pattern.fill(buffer, page: page, seed: 11)
                let count = min(pageSize, size - page * pageSize)
                if pwrite(scratch.fd, buffer.baseAddress!, count, off_t(page * pageSize)) != count {
                    throw SysError("write \(name) page \(page)")
                }
            }
        }
        for page in partial {
            pattern.fill(buffer, page: page, seed: 11)
            let count = min(100, size - (page * pageSize + 1000))
            if pwrite(scratch.fd, buffer.baseAddress!, count, off_t(page * pageSize + 1000)) != count {
                throw SysError("write 100 bytes into \(name) page \(page)")
            }
        }
        // No fsync: SEEK_DATA sees delayed-allocation data, and dropping
        // caches syncs every file first (255 fsyncs cost seconds in TCG).
        let fd = open("/proc/self/fd/\(scratch.fd)", O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("reopen \(name) read-only") }
        return SparseLayer(fd: fd, name: name, image: try FileImage.onDemand(fd: fd, name: name), data: data,
                           partialPages: partial)
    }

    func close() { Glibc.close(fd) }

    /// This layer in a raw v2 request: its data extents, or `segments`.
    func raw(segments: [ClosedRange<Int>]? = nil) -> RawLayer {
        guard let segments else { return .dataExtents(fileDescriptor: fd) }
        return RawLayer(fileDescriptor: fd, segments: RawSegments(ranges: segments))
    }
}

extension OverlayDevice {
    /// A v2 request that must succeed: its id.
    func stack(_ request: RawStackRequest, _ what: String) throws -> OverlayID {
        switch stack(request) {
        case .success(let id): return id
        case .failure(let error): throw TestFailure("\(what): stack request failed: \(error)")
        }
    }
}
