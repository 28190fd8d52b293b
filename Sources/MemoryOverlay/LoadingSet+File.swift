// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// A loading-set file (docs/abi.md, "Loading-set files"): every integer
/// little-endian,
///
/// | offset     | size   | field                                          |
/// |------------|--------|------------------------------------------------|
/// | 0          | 8      | magic, the ASCII bytes `BSLOADST`              |
/// | 8          | 4      | version, 1                                     |
/// | 12         | 4      | page size in bytes of the machine that wrote it|
/// | 16         | 8      | range count N (at most 1,048,576)              |
/// | 24         | 16 × N | ranges: first page (8), page count (8)         |
/// | 24 + 16 N  | 4      | CRC-32 (IEEE, as zlib's) of bytes 0 ..< 24+16N |
///
/// The ranges are sorted, each holds at least one page, and each starts
/// after the previous one ends. The file is exactly `28 + 16 N` bytes.
extension LoadingSet {
    /// The first 8 bytes of every loading-set file: `BSLOADST`.
    public static let fileMagic: [UInt8] = Array("BSLOADST".utf8)
    /// The format version this library writes and reads.
    public static let fileVersion: UInt32 = 1
    /// The bytes before the first range: magic, version, page size, count.
    static let fileHeaderSize = 24
    /// The bytes of one range.
    static let fileRangeSize = 16
    /// The bytes of the checksum at the end.
    static let fileChecksumSize = 4
    /// The largest file a set of ``SegmentList/maximumCount`` ranges makes
    /// (16 MiB and 28 bytes); a longer file is refused unread.
    public static var maximumFileSize: Int {
        fileHeaderSize + SegmentList.maximumCount * fileRangeSize + fileChecksumSize
    }

    /// The set in the loading-set file format.
    ///
    /// - Parameter pageSize: the page size the file records (this
    ///   machine's by default; a reader with another refuses it).
    public func fileBytes(pageSize: Int = MemoryPage.size) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.fileHeaderSize + ranges.count * Self.fileRangeSize + Self.fileChecksumSize)
        bytes += Self.fileMagic
        bytes.appendLittleEndian(Self.fileVersion)
        bytes.appendLittleEndian(UInt32(pageSize))
        bytes.appendLittleEndian(UInt64(ranges.count))
        for range in ranges {
            bytes.appendLittleEndian(UInt64(range.lowerBound))
            bytes.appendLittleEndian(UInt64(range.count))
        }
        bytes.appendLittleEndian(CRC32.checksum(bytes))
        return bytes
    }

    /// Writes the set to a loading-set file at `path`, created (mode 0644
    /// less the umask) or truncated.
    ///
    /// - Parameter path: the file to write.
    /// - Throws: the `Errno` of `open`, `write` or `close`.
    public func write(to path: FilePath) throws(Errno) {
        let bytes = fileBytes()
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(
                path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter {
                _ = try descriptor.writeAll(bytes)
            }
        }
    }

    /// Reads the loading-set file at `path`.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - pageSize: the page size the file must have been written for
    ///     (this machine's by default).
    /// - Throws: ``LoadingSetFileError/unreadable(_:)`` with the `Errno` of
    ///   `open` or `read`, ``LoadingSetFileError/tooLarge(size:limit:)``
    ///   for a file longer than ``maximumFileSize``, and what
    ///   ``init(fileBytes:pageSize:)`` finds wrong.
    public init(contentsOf path: FilePath, pageSize: Int = MemoryPage.size) throws(LoadingSetFileError) {
        let bytes: [UInt8]
        do {
            bytes = try Errno.rethrowing {
                let descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
                return try descriptor.closeAfter { try Self.readAll(descriptor, limit: Self.maximumFileSize + 1) }
            }
        } catch {
            throw .unreadable(error)
        }
        guard bytes.count <= Self.maximumFileSize else {
            throw .tooLarge(size: bytes.count, limit: Self.maximumFileSize)
        }
        try self.init(fileBytes: bytes, pageSize: pageSize)
    }

    /// Up to `limit` bytes of `descriptor`, read until end of file.
    private static func readAll(_ descriptor: FileDescriptor, limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted])) }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    /// The set a loading-set file's bytes hold.
    ///
    /// The checks run in the order of the file: magic, version, page size,
    /// the range count against the limit and the file's length, the
    /// checksum, then each range. Nothing a file holds makes this trap.
    ///
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - pageSize: the page size the file must have been written for
    ///     (this machine's by default).
    /// - Throws: the first ``LoadingSetFileError`` found.
    public init(fileBytes bytes: some Collection<UInt8>, pageSize: Int = MemoryPage.size) throws(LoadingSetFileError) {
        let bytes = Array(bytes)
        let magic = Self.fileMagic
        guard bytes.count >= magic.count else {
            if bytes.elementsEqual(magic.prefix(bytes.count)) {
                throw .truncated(size: bytes.count, expected: Self.fileHeaderSize + Self.fileChecksumSize)
            }
            throw .badMagic
        }
        guard bytes.prefix(magic.count).elementsEqual(magic) else { throw .badMagic }
        guard bytes.count >= Self.fileHeaderSize + Self.fileChecksumSize else {
            throw .truncated(size: bytes.count, expected: Self.fileHeaderSize + Self.fileChecksumSize)
        }
        let version = bytes.littleEndian(UInt32.self, at: 8)
        guard version == Self.fileVersion else { throw .unsupportedVersion(version) }
        let filePageSize = bytes.littleEndian(UInt32.self, at: 12)
        guard Int(filePageSize) == pageSize else { throw .pageSizeMismatch(file: Int(filePageSize), machine: pageSize) }
        let count = bytes.littleEndian(UInt64.self, at: 16)
        guard count <= UInt64(SegmentList.maximumCount) else {
            throw .tooManyRanges(count: count, limit: SegmentList.maximumCount)
        }
        let expected = Self.fileHeaderSize + Int(count) * Self.fileRangeSize + Self.fileChecksumSize
        guard bytes.count >= expected else { throw .truncated(size: bytes.count, expected: expected) }
        guard bytes.count == expected else { throw .trailingBytes(size: bytes.count, expected: expected) }
        let stored = bytes.littleEndian(UInt32.self, at: expected - Self.fileChecksumSize)
        let computed = CRC32.checksum(bytes[..<(expected - Self.fileChecksumSize)])
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        var ranges: [ClosedRange<Int>] = []
        ranges.reserveCapacity(Int(count))
        let maximumPage = UInt64(pageSize > 0 ? Int.max / pageSize - 1 : 0)
        for index in 0..<Int(count) {
            let offset = Self.fileHeaderSize + index * Self.fileRangeSize
            let first = bytes.littleEndian(UInt64.self, at: offset)
            let pages = bytes.littleEndian(UInt64.self, at: offset + 8)
            guard pages > 0 else { throw .emptyRange(index: index) }
            // first + pages - 1 <= maximumPage, without overflowing.
            guard first <= maximumPage, pages - 1 <= maximumPage - first else {
                throw .pageTooLarge(index: index, firstPage: first, pageCount: pages)
            }
            let range = Int(first)...Int(first + pages - 1)
            if let previous = ranges.last, range.lowerBound <= previous.upperBound {
                throw .unsorted(index: index, firstPage: range.lowerBound, previousLastPage: previous.upperBound)
            }
            ranges.append(range)
        }
        // Sorted and apart: only touching ranges remain to merge.
        do {
            self = try LoadingSet(ranges)
        } catch {
            // Unreachable: every range was checked above.
            throw .invalidRanges(error)
        }
    }
}

/// Why a loading-set file was refused: what in it is wrong, and where.
public enum LoadingSetFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(Errno)
    /// The file is longer than any loading set (``LoadingSet/maximumFileSize``).
    case tooLarge(size: Int, limit: Int)
    /// The file does not begin with `BSLOADST`: not a loading-set file.
    case badMagic
    /// A format version this library does not read.
    case unsupportedVersion(UInt32)
    /// The file was written for pages of another size.
    case pageSizeMismatch(file: Int, machine: Int)
    /// The file claims more ranges than one request may carry.
    case tooManyRanges(count: UInt64, limit: Int)
    /// The file ends before its header, ranges and checksum do.
    case truncated(size: Int, expected: Int)
    /// The file goes on past its checksum.
    case trailingBytes(size: Int, expected: Int)
    /// The checksum does not match the bytes before it: the file changed
    /// after it was written.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// Range `index` (counting from 0) holds no page.
    case emptyRange(index: Int)
    /// Range `index` reaches past the largest page a file can have.
    case pageTooLarge(index: Int, firstPage: UInt64, pageCount: UInt64)
    /// Range `index` does not start after the previous range ends: the
    /// ranges are unsorted or overlap.
    case unsorted(index: Int, firstPage: Int, previousLastPage: Int)
    /// The ranges make no valid ``LoadingSet``.
    case invalidRanges(SegmentError)

    /// The reason in words.
    public var description: String {
        switch self {
        case .unreadable(let errno):
            "cannot read the file: \(errno.name) (\(errno.description))"
        case .tooLarge(let size, let limit):
            "\(size) bytes or more: no loading-set file is longer than \(limit) bytes"
        case .badMagic:
            "not a loading-set file (it does not begin with BSLOADST)"
        case .unsupportedVersion(let version):
            "format version \(version): only version \(LoadingSet.fileVersion) is known"
        case .pageSizeMismatch(let file, let machine):
            "written for \(file)-byte pages; this machine's are \(machine) bytes"
        case .tooManyRanges(let count, let limit):
            "\(count) ranges: at most \(limit)"
        case .truncated(let size, let expected):
            "truncated: \(size) bytes, the header and ranges need \(expected)"
        case .trailingBytes(let size, let expected):
            "\(size) bytes: \(size - expected) past the checksum (the ranges end at byte \(expected))"
        case .checksumMismatch(let stored, let computed):
            "checksum mismatch: stored \(hex(stored)), the contents give \(hex(computed)) (the file is corrupt)"
        case .emptyRange(let index):
            "range \(index): no pages (page count 0)"
        case .pageTooLarge(let index, let first, let count):
            "range \(index): \(count) pages from page \(first) reach past the largest page of a file"
        case .unsorted(let index, let first, let previousLast):
            "range \(index): starts at page \(first), not after the previous range's last page \(previousLast) (unsorted or overlapping)"
        case .invalidRanges(let error):
            "\(error)"
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// CRC-32 as zlib, PNG and gzip compute it (IEEE 802.3, reflected
/// polynomial 0xEDB88320, initial and final value all ones):
/// `checksum("123456789")` is `0xCBF43926`.
package enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// The CRC-32 of `bytes`.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }
}

extension Array where Element == UInt8 {
    /// Appends `value`'s bytes, least significant first.
    fileprivate mutating func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value) {
        for index in 0..<(Value.bitWidth / 8) {
            append(UInt8(truncatingIfNeeded: value >> (index * 8)))
        }
    }

    /// The little-endian `Value` at `offset` (the caller checked the length).
    fileprivate func littleEndian<Value: FixedWidthInteger>(_: Value.Type, at offset: Int) -> Value {
        var value: Value = 0
        for index in 0..<(Value.bitWidth / 8) {
            value |= Value(self[offset + index]) << (index * 8)
        }
        return value
    }
}
