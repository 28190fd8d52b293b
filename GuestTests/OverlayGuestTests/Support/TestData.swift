// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

extension DataFile {
    /// Fails the scenario when a data file is missing.
    static func require(_ name: String) throws {
        if !SystemFiles.exists(name) {
            throw TestFailure("missing \(name) in the working directory (run `batch-syscalls sample-files --dir .` first)")
        }
    }
}

/// The four small data files, read with pread (this also warms their page cache).
struct TestData {
    let base: FileImage
    let base2: FileImage
    let overlay: FileImage
    let zebra: FileImage

    var pageCount: Int { base.pageCount }

    static func load() throws -> TestData {
        for name in [DataFile.base.name, DataFile.base2.name, DataFile.overlay.name, DataFile.zebra.name] { try DataFile.require(name) }
        let data = TestData(base: try FileImage.load(DataFile.base.name), base2: try FileImage.load(DataFile.base2.name),
                            overlay: try FileImage.load(DataFile.overlay.name), zebra: try FileImage.load(DataFile.zebra.name))
        try require(data.base.pageCount >= 160 && data.base.size % pageSize == 0,
                    "base.bin must have at least 160 whole pages (sample-files --pages)")
        return data
    }

    /// Re-reads base.bin and overlay.bin and records a failure for each that
    /// differs from what was read before: the files must never change.
    func expectFilesUnchanged(_ context: String) throws {
        for (before, path) in [(base, DataFile.base.name), (overlay, DataFile.overlay.name)] {
            let now = try FileImage.load(path)
            expect(now.sameContents(as: before),
                   "\(context): \(path) changed on disk (size \(before.size) -> \(now.size), first differing page \(now.firstDifferingPage(from: before).map(String.init) ?? "none"))")
        }
    }
}

/// A scratch file in the working directory (the test disk), unlinked at
/// once: it lives while its descriptor or a mapping does.
struct ScratchFile {
    let fd: Int32
    let name: String

    /// A copy of the first `bytes` bytes of the file at `path`.
    static func copy(of path: String, bytes: Int, name: String) throws -> ScratchFile {
        let source = open(path, O_RDONLY | O_CLOEXEC)
        if source < 0 { throw SysError("open \(path)") }
        defer { Glibc.close(source) }
        let scratch = try create(name: name)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < bytes {
            let n = pread(source, buffer, min(1 << 20, bytes - offset), off_t(offset))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { scratch.close(); throw SysError("read \(path) at \(offset)", n < 0 ? .current : Errno(rawValue: EIO)) }
            if pwrite(scratch.fd, buffer, n, off_t(offset)) != n { scratch.close(); throw SysError("write \(name)") }
            offset += n
        }
        return scratch
    }

    /// An empty scratch file.
    static func create(name: String) throws -> ScratchFile {
        let path = ".overlay-tests-\(getpid())-\(name)"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 { throw SysError("create \(path) in the working directory") }
        unlink(path)
        return ScratchFile(fd: fd, name: name)
    }

    func truncate(bytes: Int) throws {
        if ftruncate(fd, off_t(bytes)) != 0 { throw SysError("ftruncate \(name) to \(bytes) bytes") }
    }

    func close() { Glibc.close(fd) }
}
