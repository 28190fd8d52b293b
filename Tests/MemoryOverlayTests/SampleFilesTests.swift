// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage
import Testing

@Suite("SampleFiles: the seed's files and the page verifier")
struct SampleFilesTests {
    @Test func writesEveryFileWithItsPageCount() throws {
        let directory = TestDirectory.shared
        for file in [DataFile.base, .base2, .overlay, .zebra] {
            var info = stat()
            #expect(stat(directory[file].string, &info) == 0)
            #expect(Int(info.st_size) == TestDirectory.pages * MemoryPage.size, "\(file.name)")
        }
        #expect(access(directory[.baseXL].string, F_OK) != 0, "no XL files with extraLargePages 0")
    }

    @Test func zebraAlternatesZeroAndFFPages() throws {
        let directory = TestDirectory.shared
        #expect(try directory.contents(of: .zebra, page: 0).allSatisfy { $0 == 0x00 })
        #expect(try directory.contents(of: .zebra, page: 1).allSatisfy { $0 == 0xFF })
        #expect(try directory.contents(of: .zebra, page: 254).allSatisfy { $0 == 0x00 })
    }

    @Test func sameSeedSameBytesAndEachPageNamesItsOrigin() throws {
        let first = try TestDirectory(seed: 11)
        let second = try TestDirectory(seed: 11)
        let other = try TestDirectory(seed: 12)
        let page = try first.contents(of: .overlay, page: 37)
        #expect(page == (try second.contents(of: .overlay, page: 37)))
        #expect(page != (try other.contents(of: .overlay, page: 37)))
        #expect(page != (try first.contents(of: .base, page: 37)))
        let origin = try #require(page.withUnsafeBytes { PagePattern.origin(of: $0) })
        #expect(PagePattern.file(ofStream: origin.stream) == .overlay && origin.page == 37)
    }

    @Test func verifierPassesAUserspaceComposition() throws {
        let directory = TestDirectory.shared
        let segments = try SegmentList([0...0, 4...6, 20...21, 30...70])
        let base = try MappedFile(path: directory[.base])
        // The same composition the module makes, with one MAP_FIXED mapping
        // of overlay.bin per segment.
        let overlay = try FileDescriptor.open(directory[.overlay], .readOnly)
        defer { try? overlay.close() }
        for range in segments.merged {
            let address = mmap(base.address + range.lowerBound * MemoryPage.size, range.count * MemoryPage.size,
                               PROT_READ, MAP_PRIVATE | MAP_FIXED, overlay.rawValue,
                               off_t(range.lowerBound * MemoryPage.size))
            #expect(address != MAP_FAILED)
        }
        let report = try OverlayVerifier(basePath: directory[.base], overlayPath: directory[.overlay],
                                         segments: segments).verify(base)
        #expect(report.passed)
        #expect(report.pagesChecked == TestDirectory.pages)
        #expect(report.overlayPages == 1 + 3 + 2 + 41)
    }

    @Test func verifierNamesWhatAWrongPageShows() throws {
        let directory = TestDirectory.shared
        let base = try MappedFile(path: directory[.base])
        let report = try OverlayVerifier(basePath: directory[.base], overlayPath: directory[.overlay],
                                         segments: SegmentList([4...6])).verify(base)
        #expect(!report.passed)
        #expect(report.mismatchCount == 3)
        #expect(report.mismatches.first?.description == "page 4 shows base.bin page 4, expected overlay.bin page 4")
    }

    @Test func verifierDoesNotTouchPagesPastTheOverlayFilesEnd() throws {
        let directory = try TestDirectory()
        let base = try MappedFile(path: directory[.base])
        #expect(truncate(directory[.overlay].string, off_t(10 * MemoryPage.size)) == 0)
        let report = try OverlayVerifier(basePath: directory[.base], overlayPath: directory[.overlay],
                                         segments: SegmentList([20...29])).verify(base)
        #expect(report.pagesPastOverlayEnd == 10)
        #expect(report.pagesChecked == TestDirectory.pages - 10)
    }
}
