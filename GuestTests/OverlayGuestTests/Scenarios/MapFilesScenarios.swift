// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// The overlaid file reopened through /proc/self/map_files: no shared
/// writable mapping of it (there is no write layer).
enum MapFilesScenarios {
    static var all: [Scenario] { [
        Scenario("map_files: the overlaid file cannot be mapped shared writable (EACCES)", sharedWritable),
    ] }

    /// errno values that are a clean refusal to open the overlaid file.
    static let cleanOpenErrors: Set<Int32> = [EACCES, EPERM, ENXIO, ENODEV, EROFS, EINVAL, EOPNOTSUPP, ENOENT]

    /// mmap(MAP_SHARED, PROT_READ|PROT_WRITE) of `fd` must fail with EACCES.
    static func expectSharedWritableRefused(_ fd: Int32, _ length: Int, _ what: String) {
        let shared = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        if shared != MAP_FAILED, let shared {
            Log.fail("mmap(MAP_SHARED, PROT_READ|PROT_WRITE) of \(what) succeeded")
            munmap(shared, length)
        } else {
            expectErrno(errno, EACCES, "mmap(MAP_SHARED, PROT_READ|PROT_WRITE) of \(what)")
        }
    }

    static func sharedWritable() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let base = fixture.base
            let id = try device.overlay(base: base, overlay: fixture.overlay, segments: seedSegments)
            let view = fixture.seedView
            let path = base.mapFilesPath
            let fd = open(path, O_RDWR | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                expectSharedWritableRefused(fd, base.length, "\(path) (opened O_RDWR)")
                // A read-only shared mapping, if allowed, shows the overlaid
                // file, and must not be made writable with mprotect.
                let readOnly = mmap(nil, base.length, PROT_READ, MAP_SHARED, fd, 0)
                if readOnly != MAP_FAILED, let readOnly {
                    let mapping = MappedFile(mappedAt: readOnly, length: base.length, firstFilePage: 0,
                                             name: "read-only MAP_SHARED mapping via map_files")
                    verifyPages(mapping, view, label: mapping.name)
                    let result = mprotect(readOnly, base.length, PROT_READ | PROT_WRITE)
                    expect(result != 0 && errno == EACCES,
                           "mprotect(PROT_WRITE) of the read-only shared mapping: expected EACCES, got \(result == 0 ? "success" : Errno.describe(errno))")
                    munmap(readOnly, base.length)
                } else {
                    Log.note("mmap(MAP_SHARED, PROT_READ) of \(path): \(Errno.current)")
                }
            } else {
                let error = errno
                expect(cleanOpenErrors.contains(error), "open(\(path), O_RDWR) failed with \(Errno.describe(error)), not a clean refusal")
                Log.note("open(\(path), O_RDWR): \(Errno.describe(error)); the shared writable mapping could not be tried")
                let readOnlyFD = open(path, O_RDONLY | O_CLOEXEC)
                if readOnlyFD >= 0 {
                    expectSharedWritableRefused(readOnlyFD, base.length, "\(path) (opened O_RDONLY)")
                    close(readOnlyFD)
                } else {
                    let readError = errno
                    expect(cleanOpenErrors.contains(readError), "open(\(path), O_RDONLY) failed with \(Errno.describe(readError))")
                    Log.note("open(\(path), O_RDONLY): \(Errno.describe(readError))")
                }
            }
            verifyPages(base, view, label: "overlaid mapping after the map_files attempts")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }
}
