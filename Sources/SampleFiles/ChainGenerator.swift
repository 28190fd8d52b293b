// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// Writes a snapshot chain: a base file and `diffs` sparse diff files of
/// the same size, each holding only its dirty pages (as Firecracker writes
/// diff snapshots), whose dirty pages overlap from one diff to the next.
///
/// The layout works in blocks of 32 pages:
/// - the base holds data everywhere except pages 24-31 of every fourth
///   block (holes, as zero pages of a snapshot are written);
/// - diff `k` (from 1) dirties, in every block `j` with `(j + k) % 3 != 0`,
///   a run of `4 + (k - 1) % 8` pages starting at page `o(k)` of the
///   block, where `o` goes 0, 3, 6, ... 18 and back down 15, 12, ... 0
///   (3 steps of 3 apart at most), so consecutive diffs overlap in every
///   block both dirty.
///
/// Each file's pages are pseudo-random from its own stream (the base's 16,
/// diff `k`'s 16 + `k`), so a page names the file it came from.
public struct ChainGenerator: Sendable {
    /// The base file's name.
    public static let baseName = "chain-base.bin"
    /// The name of diff `k` (from 1).
    public static func diffName(_ k: Int) -> String { "chain-diff-\(k).bin" }

    /// The directory the files go to (created if missing).
    public var directory: FilePath
    /// Pages of every file.
    public var pages: Int
    /// Number of diff files.
    public var diffs: Int
    /// Fixes the contents of every page.
    public var seed: UInt64

    public init(directory: FilePath, pages: Int, diffs: Int, seed: UInt64 = DataGenerator.defaultSeed) {
        self.directory = directory
        self.pages = pages
        self.diffs = diffs
        self.seed = seed
    }

    /// The base file's path.
    public var basePath: FilePath { directory.appending(Self.baseName) }
    /// The diff files' paths, lowest first.
    public var diffPaths: [FilePath] { (0..<diffs).map { directory.appending(Self.diffName($0 + 1)) } }

    /// The pattern of the base's pages.
    public static let basePattern = PagePattern.seeded(stream: 16)
    /// The pattern of diff `k`'s pages.
    public static func diffPattern(_ k: Int) -> PagePattern { .seeded(stream: UInt32(16 + k)) }

    /// The pages of the base that hold data.
    public static func baseData(pages: Int) -> [ClosedRange<Int>] {
        var ranges: [ClosedRange<Int>] = []
        var start = 0
        for block in stride(from: 0, to: pages, by: 32) where (block / 32) % 4 == 3 {
            let hole = (block + 24)..<min(block + 32, pages)
            if hole.lowerBound > start { ranges.append(start...(min(hole.lowerBound, pages) - 1)) }
            start = max(start, hole.upperBound)
        }
        if start < pages { ranges.append(start...(pages - 1)) }
        return ranges
    }

    /// The dirty pages of diff `k` (from 1) in files of `pages` pages.
    public static func dirtyPages(ofDiff k: Int, pages: Int) -> [ClosedRange<Int>] {
        let length = 4 + (k - 1) % 8
        let step = (k - 1) % 12
        let offset = 3 * (step <= 6 ? step : 12 - step)
        var ranges: [ClosedRange<Int>] = []
        for block in 0..<((pages + 31) / 32) where (block + k) % 3 != 0 {
            let first = block * 32 + offset
            let last = min(first + length, pages) - 1
            if first <= last { ranges.append(first...last) }
        }
        return ranges
    }

    /// Writes the base and every diff, sparse; `progress(path)` is called
    /// after each file.
    ///
    /// - Throws: ``DataGenerator/Failure``, naming the directory or file.
    public func write(progress: (FilePath) -> Void = { _ in }) throws(DataGenerator.Failure) {
        try DataGenerator(directory: directory, pages: 0, extraLargePages: 0, seed: seed).makeDirectory()
        do {
            try Self.basePattern.writeSparse(to: basePath, pages: pages, data: Self.baseData(pages: pages), seed: seed)
        } catch {
            throw DataGenerator.Failure(path: basePath, errno: error)
        }
        progress(basePath)
        for (index, path) in diffPaths.enumerated() {
            let k = index + 1
            do {
                try Self.diffPattern(k).writeSparse(to: path, pages: pages, data: Self.dirtyPages(ofDiff: k, pages: pages),
                                                    seed: seed)
            } catch {
                throw DataGenerator.Failure(path: path, errno: error)
            }
            progress(path)
        }
    }
}

extension PagePattern {
    /// Writes a file of `pages` pages (replacing any file there) holding
    /// this pattern's pages in `data` and holes everywhere else, then
    /// fsyncs it.
    ///
    /// - Throws: the `Errno` of creating, writing or syncing the file.
    public func writeSparse(to path: FilePath, pages: Int, data: [ClosedRange<Int>], seed: UInt64) throws(Errno) {
        let pageSize = MemoryPage.size
        let chunkPages = 256
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter {
                guard ftruncate(descriptor.rawValue, off_t(pages * pageSize)) == 0 else { throw Errno(rawValue: errno) }
                for range in data {
                    var page = range.lowerBound
                    while page <= range.upperBound {
                        let count = min(chunkPages, range.upperBound + 1 - page)
                        for index in 0..<count {
                            let slice = UnsafeMutableRawBufferPointer(
                                rebasing: buffer[(index * pageSize)..<((index + 1) * pageSize)])
                            fill(slice, page: page + index, seed: seed)
                        }
                        _ = try descriptor.writeAll(toAbsoluteOffset: Int64(page * pageSize),
                                                    UnsafeRawBufferPointer(rebasing: buffer[0..<(count * pageSize)]))
                        page += count
                    }
                }
                guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
            }
        }
    }
}
