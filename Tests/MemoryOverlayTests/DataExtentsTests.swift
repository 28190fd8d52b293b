// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage
import Testing

/// `SegmentList(dataExtentsOf:)` on sparse files in the test directory (the
/// guest's ext4 disk there, whatever $TMPDIR is on a host). A filesystem
/// that cannot report holes reports all of a file as data: the expected
/// pages then are the whole file, as the module's would be.
@Suite("SegmentList(dataExtentsOf:): the pages of a sparse file that hold data", .serialized)
struct DataExtentsTests {
    let directory = TestDirectory.shared
    let page = MemoryPage.size

    /// A new file of `pages` pages with `writes` (byte offset, length) of
    /// non-zero bytes and holes elsewhere, open for reading; the file is
    /// unlinked at once.
    private func sparseFile(_ name: String, pages: Int, writes: [(offset: Int, length: Int)]) throws -> FileDescriptor {
        let path = directory.path.appending("extents-\(getpid())-\(name)")
        let writer = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer {
            try? writer.close()
            unlink(path.string)
        }
        #expect(ftruncate(writer.rawValue, off_t(pages * page)) == 0)
        for (offset, length) in writes {
            _ = try [UInt8](repeating: 0xA5, count: length).withUnsafeBytes {
                try writer.writeAll(toAbsoluteOffset: Int64(offset), $0)
            }
        }
        #expect(fsync(writer.rawValue) == 0)
        return try FileDescriptor.open(path, .readOnly)
    }

    /// Whether the filesystem of the test directory reports holes.
    private func reportsHoles() throws -> Bool {
        let probe = try sparseFile("probe", pages: 64, writes: [(offset: 32 * page, length: page)])
        defer { try? probe.close() }
        return lseek(probe.rawValue, 0, 3 /* SEEK_DATA */) == off_t(32 * page)
    }

    private func expectExtents(_ file: FileDescriptor, pages: Int, holes: [ClosedRange<Int>]) throws {
        let found = try SegmentList(dataExtentsOf: file)
        let expected = try reportsHoles() ? holes : (pages > 0 ? [0...(pages - 1)] : [])
        #expect(found.ranges == expected)
    }

    @Test func aFileOfHolesHasNoExtents() throws {
        let file = try sparseFile("holes", pages: 100, writes: [])
        defer { try? file.close() }
        try expectExtents(file, pages: 100, holes: [])
        #expect(try SegmentList(dataExtentsOf: file).pageCount == (try reportsHoles() ? 0 : 100))
    }

    @Test func aFileOfDataIsOneExtent() throws {
        let file = try sparseFile("data", pages: 100, writes: [(offset: 0, length: 100 * page)])
        defer { try? file.close() }
        try expectExtents(file, pages: 100, holes: [0...99])
    }

    @Test func aPagePartlyDataCountsAndNeighboursMerge() throws {
        // 100 bytes in page 3, pages 10-12 whole, the last byte of page 20
        // and the first of page 21, one byte in the last page.
        let file = try sparseFile("partial", pages: 50, writes: [
            (offset: 3 * page + 1000, length: 100), (offset: 10 * page, length: 3 * page),
            (offset: 21 * page - 1, length: 2), (offset: 50 * page - 1, length: 1),
        ])
        defer { try? file.close() }
        try expectExtents(file, pages: 50, holes: [3...3, 10...12, 20...21, 49...49])
    }

    @Test func theFilePositionIsKept() throws {
        let file = try sparseFile("position", pages: 20, writes: [(offset: 5 * page, length: page)])
        defer { try? file.close() }
        #expect(lseek(file.rawValue, 777, SEEK_SET) == 777)
        _ = try SegmentList(dataExtentsOf: file)
        #expect(lseek(file.rawValue, 0, SEEK_CUR) == 777)
    }

    @Test func aPipeCannotSeek() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        #expect(throws: Errno.illegalSeek) { try SegmentList(dataExtentsOf: FileDescriptor(rawValue: ends[0])) }
    }

    /// Preallocated blocks never written read as zeros and are holes,
    /// even when their zeros are cached; data written into preallocated
    /// blocks is data before it is written back (the extent map is read
    /// after writeback, when the filesystem marks the blocks written).
    @Test func preallocatedExtentsAreHolesUntilWritten() throws {
        let path = directory.path.appending("extents-\(getpid())-preallocated")
        let writer = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer {
            try? writer.close()
            unlink(path.string)
        }
        let fill = [UInt8](repeating: 0xA5, count: 5 * page)
        _ = try fill.withUnsafeBytes { try writer.writeAll(toAbsoluteOffset: 0, $0) }
        #expect(fsync(writer.rawValue) == 0)
        guard batch_syscalls_fallocate(writer.rawValue, 0, 10 * page, 20 * page) == 0, try reportsHoles() else {
            return  // no preallocation here (or no holes): nothing to tell apart
        }
        _ = try fill[0..<page].withUnsafeBytes { try writer.writeAll(toAbsoluteOffset: Int64(15 * page), $0) }
        var zeros = [UInt8](repeating: 1, count: page)
        #expect(pread(writer.rawValue, &zeros, page, off_t(20 * page)) == page)
        #expect(zeros.allSatisfy { $0 == 0 }, "a preallocated page reads as zeros")
        let found = try SegmentList(dataExtentsOf: writer)
        #expect(found.ranges == [0...4, 15...15])
    }

    @Test func generatedChainDiffsHoldTheirDirtyPages() throws {
        let chainDirectory = directory.path.appending("chain-\(getpid())")
        let generator = ChainGenerator(directory: chainDirectory, pages: 200, diffs: 3, seed: 5)
        try generator.write()
        defer {
            for path in [generator.basePath] + generator.diffPaths { unlink(path.string) }
            rmdir(chainDirectory.string)
        }
        let holes = try reportsHoles()
        for (index, path) in generator.diffPaths.enumerated() {
            let file = try FileDescriptor.open(path, .readOnly)
            defer { try? file.close() }
            let dirty = ChainGenerator.dirtyPages(ofDiff: index + 1, pages: 200)
            #expect(try SegmentList(dataExtentsOf: file).ranges == (holes ? dirty : [0...199]), "\(path)")
        }
        let base = try FileDescriptor.open(generator.basePath, .readOnly)
        defer { try? base.close() }
        #expect(try SegmentList(dataExtentsOf: base).ranges == (holes ? ChainGenerator.baseData(pages: 200) : [0...199]))
    }
}
