// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// A scratch directory holding freshly generated seed data (256 pages per
/// small file, no XL files), removed when the last reference goes.
///
/// It lives under `$MEMORY_OVERLAY_TEST_DIR` when set (the guest sets it to
/// its ext4 disk, so layers are read from a real filesystem), else `$TMPDIR`
/// or /tmp.
final class TestDirectory: Sendable {
    static let pages = 256

    /// One directory for the tests that only read the files: generating
    /// costs more than the tests themselves in a debug build under TCG.
    static let shared: TestDirectory = {
        do { return try TestDirectory() } catch { fatalError("cannot create the test data: \(error)") }
    }()
    let path: FilePath
    private let files: [DataFile]

    init(seed: UInt64 = 7) throws {
        let parent = getenv("MEMORY_OVERLAY_TEST_DIR").map { String(cString: $0) }
            ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(parent)/memory-overlay-tests-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw Errno(rawValue: errno) }
        path = FilePath(String(cString: created))
        let generator = DataGenerator(directory: path, pages: Self.pages, extraLargePages: 0, seed: seed)
        files = generator.files.map(\.file)
        try generator.write()
    }

    deinit {
        for file in files { unlink(self[file].string) }
        rmdir(path.string)
    }

    subscript(file: DataFile) -> FilePath { path.appending(file.name) }

    /// Page `page` of `file` read with pread, the reference a mapping is
    /// compared with.
    func contents(of file: DataFile, page: Int) throws -> [UInt8] {
        let descriptor = try FileDescriptor.open(self[file], .readOnly)
        defer { try? descriptor.close() }
        var bytes = [UInt8](repeating: 0, count: MemoryPage.size)
        _ = try bytes.withUnsafeMutableBytes {
            try descriptor.read(fromAbsoluteOffset: Int64(page * MemoryPage.size), into: $0)
        }
        return bytes
    }
}

extension MappedFile {
    /// The bytes file page `filePage` shows now (a read: faults it in).
    func contents(ofFilePage filePage: Int) -> [UInt8] {
        Array(page(atFilePage: filePage))
    }
}
