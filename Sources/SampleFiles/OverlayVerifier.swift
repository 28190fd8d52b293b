// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// Checks every page of an overlaid mapping against the files themselves,
/// read with `pread` (never through a mapping): a page in a segment must
/// equal the overlay file's page, any other the base file's.
public struct OverlayVerifier {
    /// One page that showed the wrong bytes.
    public struct Mismatch: Sendable, CustomStringConvertible {
        /// The file page offset.
        public var page: Int
        /// "overlay.bin page 7", say: what the page should show.
        public var expected: String
        /// What it shows, as far as can be told.
        public var shows: String

        public var description: String { "page \(page) shows \(shows), expected \(expected)" }
    }

    /// What a verification found.
    public struct Report: Sendable {
        /// Pages compared.
        public var pagesChecked = 0
        /// Of those, pages that should show the overlay file.
        public var overlayPages = 0
        /// Pages in a segment but past the overlay file's end: not touched
        /// (reading them raises SIGBUS, as past the end of any mapped file).
        public var pagesPastOverlayEnd = 0
        /// The first mismatches (at most `mismatchLimit`).
        public var mismatches: [Mismatch] = []
        /// All mismatches, including those not kept.
        public var mismatchCount = 0

        public var passed: Bool { mismatchCount == 0 }
    }

    public let basePath: FilePath
    public let overlayPath: FilePath
    /// The union of the segments.
    public let overlaidPages: PageSet
    public var mismatchLimit = 10

    public init(basePath: FilePath, overlayPath: FilePath, segments: SegmentList) {
        self.basePath = basePath
        self.overlayPath = overlayPath
        overlaidPages = PageSet(segments)
    }

    /// A verifier of a mapping that shows `path` alone, with no overlay:
    /// every page must equal the file's.
    public init(plainFile path: FilePath) {
        basePath = path
        overlayPath = path
        overlaidPages = PageSet([])
    }

    /// Whether file page `page` lies in a segment.
    public func isOverlaid(_ page: Int) -> Bool {
        overlaidPages.contains(page)
    }

    /// Compares every page of `mapping` (touching each: first faults
    /// included) with the file that should serve it.
    ///
    /// - Throws: the `Errno` of opening or reading the files.
    public func verify(_ mapping: MappedFile) throws(Errno) -> Report {
        try verify(mapping, filePages: mapping.filePages)
    }

    /// Compares the pages `filePages` of `mapping` (a sample of a large
    /// mapping, say; pages it does not map are left out).
    ///
    /// - Throws: the `Errno` of opening or reading the files.
    public func verify(_ mapping: MappedFile, filePages: some Sequence<Int>) throws(Errno) -> Report {
        let pageSize = MemoryPage.size
        let base = try PageReader(basePath)
        let overlay = try PageReader(overlayPath)
        var report = Report()
        let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { expected.deallocate() }
        for page in filePages where mapping.filePages.contains(page) {
            let fromOverlay = isOverlaid(page)
            let source = fromOverlay ? overlay : base
            if fromOverlay && page >= overlay.pageCount {
                report.pagesPastOverlayEnd += 1
                continue
            }
            try source.read(page: page, into: expected)
            let actual = UnsafeRawBufferPointer(mapping.page(atFilePage: page))
            report.pagesChecked += 1
            if fromOverlay { report.overlayPages += 1 }
            if memcmp(actual.baseAddress!, expected.baseAddress!, pageSize) != 0 {
                report.mismatchCount += 1
                if report.mismatches.count < mismatchLimit {
                    report.mismatches.append(Mismatch(
                        page: page, expected: "\(source.name) page \(page)",
                        shows: Self.describe(actual, base: base, overlay: overlay, page: page,
                                             fromOverlay: fromOverlay)))
                }
            }
        }
        return report
    }

    /// Names what a wrong page holds: the other file's page, a seeded page
    /// of a data file, zeros, or unknown bytes.
    private static func describe(_ actual: UnsafeRawBufferPointer, base: PageReader, overlay: PageReader,
                                 page: Int, fromOverlay: Bool) -> String {
        let other = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryPage.size, alignment: MemoryPage.size)
        defer { other.deallocate() }
        for reader in [base, overlay] where page < reader.pageCount {
            if (try? reader.read(page: page, into: other)) != nil,
               memcmp(actual.baseAddress!, other.baseAddress!, MemoryPage.size) == 0 {
                return "\(reader.name) page \(page)"
            }
        }
        if let origin = PagePattern.origin(of: actual) {
            let shown = "\(PagePattern.file(ofStream: origin.stream)?.name ?? "stream \(origin.stream)") page \(origin.page)"
            // The header names the right page, so the bytes after it differ.
            let expected = fromOverlay ? overlay : base
            return shown == "\(expected.name) page \(page)" ? "changed bytes of \(shown)" : shown
        }
        if actual.allSatisfy({ $0 == 0 }) { return "zeros" }
        return "other bytes"
    }
}

/// Reads pages of a file with pread; the last partial page is zero-filled,
/// as a mapping shows it.
final class PageReader {
    let name: String
    let pageCount: Int
    private let descriptor: FileDescriptor

    init(_ path: FilePath) throws(Errno) {
        name = path.lastComponent?.string ?? path.string
        descriptor = try Errno.rethrowing { try FileDescriptor.open(path, .readOnly, options: .closeOnExec) }
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else {
            try? descriptor.close()
            throw Errno(rawValue: errno)
        }
        pageCount = MemoryPage.count(coveringBytes: Int(info.st_size))
    }

    deinit { try? descriptor.close() }

    func read(page: Int, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
        let count = try Errno.rethrowing {
            try descriptor.read(fromAbsoluteOffset: Int64(page * MemoryPage.size), into: buffer)
        }
        if count < buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[count...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }
}
