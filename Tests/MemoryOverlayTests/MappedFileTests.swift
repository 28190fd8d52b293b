// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
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

    /// The file is this test's own and the check is "no mapping of it is
    /// left", not "nothing is mapped there": the other tests run in parallel
    /// and may map anything at the freed address at once (a clean-clone run of .ci/run saw mincore
    /// succeed there after the release).
    @Test func unmapsWhenReleased() throws {
        let path = TestDirectory.shared.path.appending("unmaps-when-released.bin")
        let file = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer { unlink(path.string) }
        var information = stat()
        try file.closeAfter {
            _ = try file.writeAll(repeatElement(UInt8(7), count: 3 * MemoryPage.size))
            #expect(fstat(file.rawValue, &information) == 0)
        }
        var mapping: MappedFile? = try MappedFile(path: path)
        let address = UInt(bitPattern: mapping!.address)
        let length = mapping!.length
        var residency = [UInt8](repeating: 0, count: length / MemoryPage.size)
        #expect(mincore(mapping!.address, length, &residency) == 0)
        #expect(try Self.mappedRanges(ofInode: information.st_ino, device: information.st_dev) == [address..<(address + UInt(length))])
        mapping = nil
        #expect(try Self.mappedRanges(ofInode: information.st_ino, device: information.st_dev).isEmpty)
    }

    /// glibc's encoding of a device number (gnu_dev_major/minor are macros).
    static func majorAndMinor(_ device: dev_t) -> [UInt32] {
        let value = UInt64(device)
        return [UInt32(truncatingIfNeeded: ((value >> 8) & 0xfff) | ((value >> 32) & ~0xfff)),
                UInt32(truncatingIfNeeded: (value & 0xff) | ((value >> 12) & ~0xff))]
    }

    /// The address ranges of /proc/self/maps lines that map the file with
    /// this inode and device.
    static func mappedRanges(ofInode inode: ino_t, device: dev_t) throws -> [Range<UInt>] {
        let text = try TextFile.read("/proc/self/maps")
        // start-end perms offset major:minor inode path
        return text.split(separator: "\n").compactMap { line -> Range<UInt>? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, UInt64(fields[4]) == UInt64(inode) else { return nil }
            let numbers = fields[3].split(separator: ":").compactMap { UInt32($0, radix: 16) }
            guard numbers.count == 2, numbers == Self.majorAndMinor(device) else { return nil }
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            return bounds.count == 2 ? bounds[0]..<bounds[1] : nil
        }
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
