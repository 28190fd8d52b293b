// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

extension GuestMemoryScenarios {
    /// A copy of overlay.bin on a noexec tmpfs as the seed request's layer.
    /// mmap refuses PROT_EXEC for such a file (EPERM) and takes VM_MAYEXEC
    /// off a mapping of it; an overlay showing it does the same: a request
    /// over a PROT_EXEC mapping is EPERM with the mapping left as it was,
    /// and a restore over a read-write mapping cannot be mprotected to
    /// PROT_EXEC (EACCES). The same request with the layer on the test disk
    /// (exec allowed) is the PROT_EXEC scenario above.
    static func noexecLayers() throws {
        try withDevice { device in
            let data = try TestData.load()
            let directory = "/tmp/bs-noexec-layers"
            mkdir(directory, 0o700)
            try require(mount("tmpfs", directory, "tmpfs", UInt(MS_NOEXEC | MS_NOSUID | MS_NODEV), "size=16m") == 0,
                        "mount a noexec tmpfs on \(directory): \(Errno.current)")
            defer {
                umount2(directory, Int32(MNT_DETACH))
                rmdir(directory)
            }
            let copyPath = directory + "/" + DataFile.overlay.name
            try copyFile(DataFile.overlay.name, to: copyPath)
            let layer = try MappedFile.map(copyPath, name: "overlay.bin on a noexec tmpfs")
            defer { layer.unmap() }

            // A PROT_EXEC base: refused before anything changes.
            let executable = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_EXEC)
            defer { executable.unmap() }
            let refused = device.create(RawCreateRequest(base: executable.address, overlay: layer.address,
                                                         segments: seedSegments))
            switch refused {
            case .success(let id):
                Log.fail("a request over a PROT_EXEC mapping with a noexec layer succeeded (id \(id))")
                _ = try? device.cleanup(id)
            case .failure(let error):
                expectErrno(error, EPERM, "a request over a PROT_EXEC mapping with a noexec layer")
            }
            verifyPages(executable, ExpectedView(base: data.base), label: "the PROT_EXEC mapping after the refused request")

            // A read-write base: the restore works, PROT_EXEC stays out.
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let id = try device.overlay(base: base, overlay: layer, segments: seedSegments)
            let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
            let protect = mprotect(base.address, base.length, PROT_READ | PROT_EXEC)
            expectErrno(protect == 0 ? 0 : errno, EACCES, "mprotect(PROT_EXEC) of a restore with a noexec layer")
            expect(mprotect(base.address, base.length, PROT_READ) == 0, "mprotect(PROT_READ) of the restore: \(Errno.current)")
            verifyPages(base, view, label: "the restore with a noexec layer")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// Copies `source` to `destination` (a new file).
    private static func copyFile(_ source: String, to destination: String) throws {
        let input = try FileDescriptor.open(FilePath(source), .readOnly)
        defer { try? input.close() }
        let output = try FileDescriptor.open(FilePath(destination), .writeOnly, options: [.create, .truncate],
                                             permissions: [.ownerReadWrite])
        defer { try? output.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: pageSize)
        defer { buffer.deallocate() }
        while true {
            let count = try input.read(into: buffer)
            if count == 0 { break }
            _ = try output.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }
}
