// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import OverlayTestData
import SystemPackage
import Testing

@Suite("MappedFile: mappings that unmap themselves")
struct MappedFileTests {
    @Test func mapsAFileAndShowsItsPages() throws {
        let directory = TestDirectory.shared
        let mapping = try MappedFile(path: directory[.base])
        #expect(mapping.pageCount == TestDirectory.pages)
        #expect(mapping.filePages == 0..<TestDirectory.pages)
        for page in [0, 1, 100, TestDirectory.pages - 1] {
            #expect(mapping.contents(ofFilePage: page) == (try directory.contents(of: .base, page: page)))
        }
    }

    @Test func mapsPartOfAFileAtItsFilePageOffsets() throws {
        let directory = TestDirectory.shared
        let mapping = try MappedFile(path: directory[.overlay], firstFilePage: 10, pages: 5)
        #expect(mapping.filePages == 10..<15)
        #expect(mapping.length == 5 * MemoryPage.size)
        #expect(mapping.contents(ofFilePage: 12) == (try directory.contents(of: .overlay, page: 12)))
    }

    @Test func throwsTheErrnoOfOpen() throws {
        #expect(throws: Errno.noSuchFileOrDirectory) { try MappedFile(path: "/nonexistent/batch-syscalls/base.bin") }
        #expect(throws: Errno.isDirectory) { try MappedFile(path: "/", protection: [.read, .write], sharing: .shared) }
    }

    @Test func unmapsWhenReleased() throws {
        let directory = TestDirectory.shared
        var mapping: MappedFile? = try MappedFile(path: directory[.base])
        let address = mapping!.address
        let length = mapping!.length
        var residency = [UInt8](repeating: 0, count: length / MemoryPage.size)
        #expect(mincore(address, length, &residency) == 0)
        mapping = nil
        // mincore fails with ENOMEM for a range that is not mapped.
        #expect(mincore(address, length, &residency) == -1 && errno == ENOMEM)
    }

    @Test func anonymousMemoryIsZeroFilledAndWritable() throws {
        let memory = try MappedFile(anonymousPages: 3)
        #expect(memory.pageCount == 3 && memory.name == "anonymous")
        #expect(memory.bytes.allSatisfy { $0 == 0 })
        memory.bytes[5] = 7
        #expect(memory.bytes[5] == 7)
        #expect(throws: Errno.invalidArgument) { try MappedFile(anonymousPages: 0) }
    }
}
