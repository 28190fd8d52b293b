// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage
import Testing

@Suite("LoadingSet: merged page ranges, their file format, and recording them from pagemap")
struct LoadingSetTests {
    // MARK: The set

    @Test func mergesUnsortedOverlappingAndTouchingRanges() throws {
        let set = try LoadingSet([8...12, 0...2, 3...3, 5...9, 20...20])
        #expect(set.ranges == [0...3, 5...12, 20...20])
        #expect(set.pageCount == 13)
        #expect(try LoadingSet(pages: [20, 3, 2, 1, 0, 5, 6, 7, 8, 9, 10, 11, 12, 12]) == set)
        #expect(try LoadingSet(segments: SegmentList([20...20, 0...12])) == (try LoadingSet([0...3, 4...12, 20...20])))
        for page in [0, 3, 5, 12, 20] { #expect(set.contains(page)) }
        for page in [-1, 4, 13, 19, 21, 1000] { #expect(!set.contains(page)) }
        #expect(Array(set.pages) == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 20])
        #expect(set.segments?.ranges == set.ranges)
    }

    @Test func mayBeEmpty() throws {
        let empty = try LoadingSet([ClosedRange<Int>]())
        #expect(empty == .empty)
        #expect(empty.isEmpty && empty.pageCount == 0 && empty.segments == nil && !empty.contains(0))
    }

    @Test func refusesNegativeAndTooLargePages() {
        #expect(throws: SegmentError.negativePage(index: 1, page: -2)) { try LoadingSet([0...1, -2...3]) }
        let limit = LoadingSet.maximumPage
        #expect(throws: SegmentError.pageTooLarge(index: 0, page: Int.max, limit: limit)) {
            try LoadingSet([0...Int.max])
        }
        #expect(throws: Never.self) { try LoadingSet([limit...limit]) }
    }

    // MARK: The file format

    @Test func checksumIsZlibsCRC32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func fileLayoutIsAsDocumented() throws {
        let bytes = try LoadingSet([3...4]).fileBytes(pageSize: 4096)
        #expect(bytes.count == 24 + 16 + 4)
        #expect(Array(bytes[0..<8]) == Array("BSLOADST".utf8))
        #expect(Array(bytes[8..<24]) == [1, 0, 0, 0, 0, 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[24..<40]) == [3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
        let crc = CRC32.checksum(bytes[0..<40])
        #expect(Array(bytes[40..<44]) == [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: crc >> $0) })
    }

    @Test(arguments: [
        [], [0...0], [0...9, 100...199, 600...609], [5...5, 7...7, 9...9],
        [0...(LoadingSet.maximumPage - 1)], [(LoadingSet.maximumPage - 3)...LoadingSet.maximumPage],
    ] as [[ClosedRange<Int>]])
    func roundTripsThroughAFile(ranges: [ClosedRange<Int>]) throws {
        let set = try LoadingSet(ranges)
        #expect(try LoadingSet(fileBytes: set.fileBytes()) == set)
        let path = TestDirectory.shared.path.appending("round-trip-\(ranges.count)-\(ranges.first?.lowerBound ?? -1)-\(ranges.last?.upperBound ?? -1).ls")
        defer { unlink(path.string) }
        try set.write(to: path)
        #expect(try LoadingSet(contentsOf: path) == set)
        // Written again over a longer file: truncated first.
        try LoadingSet([0...1, 3...4, 6...7, 9...10, 12...13]).write(to: path)
        try set.write(to: path)
        #expect(try LoadingSet(contentsOf: path) == set)
    }

    @Test func aManyRangeSetRoundTrips() throws {
        let set = try LoadingSet((0..<100_000).map { ($0 * 3)...($0 * 3 + 1) })
        #expect(try LoadingSet(fileBytes: set.fileBytes()) == set)
    }

    static let good = try! LoadingSet([0...9, 100...199, 600...609]).fileBytes()

    @Test func everyTruncationIsRefused() {
        for length in 0..<Self.good.count {
            let cut = Array(Self.good.prefix(length))
            do {
                _ = try LoadingSet(fileBytes: cut)
                Issue.record("cut at \(length) bytes accepted")
            } catch {
                switch error {
                case .truncated(let size, _): #expect(size == length)
                case .badMagic: Issue.record("cut at \(length) bytes: bad magic, not truncated")
                default: Issue.record("cut at \(length) bytes: \(error)")
                }
            }
        }
    }

    @Test func everyFlippedByteIsRefused() {
        for index in Self.good.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var bytes = Self.good
                bytes[index] ^= mask
                #expect(throws: LoadingSetFileError.self, "byte \(index) ^ \(mask)") {
                    try LoadingSet(fileBytes: bytes)
                }
            }
        }
        var range = Self.good
        range[24 + 16 + 2] ^= 1
        #expect(throws: LoadingSetFileError.checksumMismatch(
            stored: CRC32.checksum(Self.good.dropLast(4)), computed: CRC32.checksum(range.dropLast(4)))) {
            try LoadingSet(fileBytes: range)
        }
    }

    /// A file of the given header fields and ranges, its checksum right.
    static func file(magic: String = "BSLOADST", version: UInt32 = 1, pageSize: Int = MemoryPage.size,
                     count: UInt64? = nil, ranges: [(first: UInt64, pages: UInt64)], extra: [UInt8] = []) -> [UInt8] {
        var bytes = Array(magic.utf8)
        func append<Value: FixedWidthInteger>(_ value: Value) {
            bytes += (0..<(Value.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        }
        append(version)
        append(UInt32(pageSize))
        append(count ?? UInt64(ranges.count))
        for range in ranges {
            append(range.first)
            append(range.pages)
        }
        bytes += extra
        append(CRC32.checksum(bytes))
        return bytes
    }

    @Test func namesWhatIsWrong() throws {
        let page = MemoryPage.size
        let cases: [(String, [UInt8], LoadingSetFileError)] = [
            ("wrong magic", Self.file(magic: "BSLOADSX", ranges: [(0, 1)]), .badMagic),
            ("another file", Array("#!/bin/sh\necho hello, this is not a set\n".utf8), .badMagic),
            ("version 2", Self.file(version: 2, ranges: [(0, 1)]), .unsupportedVersion(2)),
            ("version 0", Self.file(version: 0, ranges: [(0, 1)]), .unsupportedVersion(0)),
            ("page size", Self.file(pageSize: 65536, ranges: [(0, 1)]), .pageSizeMismatch(file: 65536, machine: page)),
            ("count over the limit", Self.file(count: 1 << 20 + 1, ranges: [(0, 1)]),
             .tooManyRanges(count: 1 << 20 + 1, limit: 1 << 20)),
            ("count of 2^64-1", Self.file(count: .max, ranges: [(0, 1)]), .tooManyRanges(count: .max, limit: 1 << 20)),
            ("count above the ranges", Self.file(count: 3, ranges: [(0, 1), (5, 1)]), .truncated(size: 60, expected: 76)),
            ("count below the ranges", Self.file(count: 1, ranges: [(0, 1), (5, 1)]),
             .trailingBytes(size: 60, expected: 44)),
            ("an empty range", Self.file(ranges: [(0, 1), (5, 0)]), .emptyRange(index: 1)),
            ("unsorted", Self.file(ranges: [(10, 1), (5, 1)]), .unsorted(index: 1, firstPage: 5, previousLastPage: 10)),
            ("overlapping", Self.file(ranges: [(10, 5), (14, 3)]), .unsorted(index: 1, firstPage: 14, previousLastPage: 14)),
            ("the same range twice", Self.file(ranges: [(10, 5), (10, 5)]),
             .unsorted(index: 1, firstPage: 10, previousLastPage: 14)),
            ("past the largest page", Self.file(ranges: [(0, 1), (UInt64(LoadingSet.maximumPage), 2)]),
             .pageTooLarge(index: 1, firstPage: UInt64(LoadingSet.maximumPage), pageCount: 2)),
            ("a count that wraps", Self.file(ranges: [(5, .max)]), .pageTooLarge(index: 0, firstPage: 5, pageCount: .max)),
            ("a first page past 2^63", Self.file(ranges: [(.max, 1)]), .pageTooLarge(index: 0, firstPage: .max, pageCount: 1)),
        ]
        for (what, bytes, wanted) in cases {
            #expect(throws: wanted, "\(what)") { try LoadingSet(fileBytes: bytes) }
        }
        // Touching ranges are accepted and merged.
        #expect(try LoadingSet(fileBytes: Self.file(ranges: [(0, 5), (5, 5)])).ranges == [0...9])
    }

    @Test func describesTheFault() {
        #expect(LoadingSetFileError.truncated(size: 30, expected: 44).description
                == "truncated: 30 bytes, the header and ranges need 44")
        #expect(LoadingSetFileError.checksumMismatch(stored: 0xAB, computed: 0x1234_5678).description
                == "checksum mismatch: stored 0x000000ab, the contents give 0x12345678 (the file is corrupt)")
        #expect(LoadingSetFileError.unsorted(index: 2, firstPage: 5, previousLastPage: 9).description.contains("range 2"))
    }

    @Test func refusesUnreadableAndOversizedFiles() throws {
        #expect(throws: LoadingSetFileError.unreadable(.noSuchFileOrDirectory)) {
            try LoadingSet(contentsOf: "/nonexistent/batch-syscalls/set.ls")
        }
        #expect(throws: LoadingSetFileError.unreadable(.isDirectory)) { try LoadingSet(contentsOf: "/") }
        // A sparse file past the largest set: read no further than the limit.
        let path = TestDirectory.shared.path.appending("oversized.ls")
        defer { unlink(path.string) }
        let descriptor = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate],
                                                 permissions: .ownerReadWrite)
        try descriptor.closeAfter {
            _ = try descriptor.writeAll(Self.good)
            #expect(ftruncate(descriptor.rawValue, off_t(LoadingSet.maximumFileSize + 4096)) == 0)
        }
        #expect(throws: LoadingSetFileError.tooLarge(size: LoadingSet.maximumFileSize + 1,
                                                     limit: LoadingSet.maximumFileSize)) {
            try LoadingSet(contentsOf: path)
        }
    }

    // MARK: Recording

    @Test func recordsTheTouchedPagesOfAnonymousMemory() throws {
        let memory = try MappedFile(anonymousPages: 64)
        for page in [0, 1, 2, 3, 10, 20, 21, 22] { memory.bytes[page * MemoryPage.size] = 1 }
        #expect(memory.bytes[40 * MemoryPage.size + 9] == 0)  // a read maps the zero page
        let recorded = try LoadingSet.recordResident(of: memory)
        #expect(recorded.ranges == [0...3, 10...10, 20...22, 40...40])
        #expect(try LoadingSet.recordResident(process: getpid(), address: UInt(bitPattern: memory.address),
                                             length: memory.length, firstFilePage: 1000).ranges
                == [1000...1003, 1010...1010, 1020...1022, 1040...1040])
    }

    /// Written pages of a private file mapping are private copies: no
    /// fault-around maps neighbours, so exactly they are recorded, named by
    /// their file page.
    @Test func recordsWrittenPagesOfAFileMappingByFilePage() throws {
        let mapping = try MappedFile(path: TestDirectory.shared[.base], protection: [.read, .write],
                                     firstFilePage: 10, pages: 100)
        for page in [10, 11, 50, 109] { mapping.page(atFilePage: page)[7] = 0x5A }
        #expect(try LoadingSet.recordResident(of: mapping).ranges == [10...11, 50...50, 109...109])
    }

    /// Read faults may map cached neighbours too (fault-around, large
    /// folios): the touched pages are all recorded, none outside the
    /// mapping.
    @Test func recordsReadPagesOfAFileMapping() throws {
        let mapping = try MappedFile(path: TestDirectory.shared[.overlay], firstFilePage: 8, pages: 240)
        let touched = [8, 64, 65, 200, 247]
        var sum = 0
        for page in touched { sum &+= Int(mapping.page(atFilePage: page)[1]) }
        let recorded = try LoadingSet.recordResident(of: mapping)
        for page in touched { #expect(recorded.contains(page), "page \(page) (sum \(sum))") }
        #expect(recorded.pages.allSatisfy(mapping.filePages.contains), "\(recorded.ranges)")
    }

    @Test func refusesUnalignedRanges() {
        #expect(throws: Errno.invalidArgument) {
            try LoadingSet.recordResident(address: 4097, length: MemoryPage.size, firstFilePage: 0)
        }
        #expect(throws: Errno.invalidArgument) {
            try LoadingSet.recordResident(address: 4096, length: 100, firstFilePage: 0)
        }
        #expect(throws: Errno.invalidArgument) {
            try LoadingSet.recordResident(address: 4096, length: 4096, firstFilePage: -1)
        }
    }
}
