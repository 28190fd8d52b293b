// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The two files every method composes: a base file and an overlay file of
/// the same size, each page seeded pseudo-random data that names its file
/// and page in its first 16 bytes (``PagePattern``).
///
/// The bench writes them itself, so it depends on nothing else; files
/// already there with the right size and contents are reused (a guest run
/// gets them on its disk, written on the host).
struct BenchDataFiles: Sendable {
    /// The base file's pattern and stream (as baseXL.bin's).
    static let basePattern = DataFile.baseXL.pattern
    /// The overlay file's pattern and stream (as overlayXL.bin's).
    static let overlayPattern = DataFile.overlayXL.pattern
    /// Seed of both files' contents.
    static let seed: UInt64 = DataGenerator.defaultSeed

    let directory: FilePath
    /// Pages in each file.
    let pages: Int

    var base: FilePath { directory.appending("bench-base.bin") }
    var overlay: FilePath { directory.appending("bench-overlay.bin") }

    /// Writes both files unless they are there already; `log` hears what
    /// happens.
    ///
    /// - Throws: the `Errno` of creating the directory or writing a file.
    func prepare(log: (String) -> Void) throws(Errno) {
        if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
        for (path, pattern) in [(base, Self.basePattern), (overlay, Self.overlayPattern)] {
            if Self.isValid(path, pattern: pattern, pages: pages) { continue }
            log("writing \(path) (\(pages) pages)")
            try pattern.write(to: path, pages: pages, seed: Self.seed)
        }
    }

    /// Whether `path` has `pages` pages and its first and last pages the
    /// right origin (a cheap check: the full contents come from a seed).
    static func isValid(_ path: FilePath, pattern: PagePattern, pages: Int) -> Bool {
        guard case .seeded(let stream) = pattern else { return false }
        return isValid(path, pages: pages, streams: (stream, stream))
    }

    /// Whether `path` has `pages` pages, its first page from the first
    /// stream and its last from the second (a file of several layers'
    /// pages, as the time-to-ready case's merged file).
    static func isValid(_ path: FilePath, pages: Int, streams: (first: UInt32, last: UInt32)) -> Bool {
        var info = stat()
        guard stat(path.string, &info) == 0, Int(info.st_size) == pages * MemoryPage.size else { return false }
        guard let descriptor = try? FileDescriptor.open(path, .readOnly, options: .closeOnExec) else { return false }
        defer { try? descriptor.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        for (page, stream) in [(0, streams.first), (pages - 1, streams.last)] {
            guard (try? descriptor.read(fromAbsoluteOffset: Int64(page * MemoryPage.size), into: buffer)) == 16,
                  let origin = PagePattern.origin(of: UnsafeRawBufferPointer(buffer)),
                  origin.stream == stream, origin.page == page
            else { return false }
        }
        return true
    }

    /// Reads both files once, so that their pages are in the page cache
    /// (the warm runs start from there).
    ///
    /// - Throws: the `Errno` of reading.
    func warmPageCache() throws(Errno) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: MemoryPage.size)
        defer { buffer.deallocate() }
        for path in [base, overlay] {
            try Errno.rethrowing {
                let descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
                try descriptor.closeAfter {
                    var offset: Int64 = 0
                    while true {
                        let count = try descriptor.read(fromAbsoluteOffset: offset, into: buffer)
                        if count == 0 { break }
                        offset += Int64(count)
                    }
                }
            }
        }
    }

    /// What ``BenchTouch/read(_:pages:)`` sums over a mapping that shows
    /// `layout` (or the base file alone, for the floor): the 8 bytes at
    /// offset 4 of each page hold its file's stream and its page number's
    /// low half, so the sum checks how many pages came from each file and
    /// that each sits at its place.
    static func expectedChecksum(layout: BenchLayout, composed: Bool) -> UInt64 {
        guard case .seeded(let baseStream) = basePattern, case .seeded(let overlayStream) = overlayPattern else {
            return 0
        }
        let overlayPages = composed ? UInt64(layout.overlayPageCount) : 0
        let basePages = UInt64(layout.pages) - overlayPages
        var sum = basePages &* UInt64(baseStream) &+ overlayPages &* UInt64(overlayStream)
        for page in 0..<layout.pages {
            sum &+= UInt64(UInt32(truncatingIfNeeded: page)) << 32
        }
        return sum
    }
}
