// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// munmap, partial munmap, mprotect splits, mremap and exit release the
/// overlay; what is left of a mapping keeps showing the right data.
enum LifecycleScenarios {
    static var all: [Scenario] { [
        Scenario("lifecycle: munmap without cleanup", munmapWithoutCleanup),
        Scenario("lifecycle: partial munmap (middle of the mapping)", partialMunmap),
        Scenario("lifecycle: mprotect of the middle to PROT_READ (split)", mprotectSplit),
        Scenario("lifecycle: mremap (move, grow, shrink)", mremapMoves),
        Scenario("lifecycle: a child exits (or is killed) without cleanup", exitWithoutCleanup),
    ] }

    static let mremapMayMove: Int32 = 1  // MREMAP_MAYMOVE (<linux/mman.h>)
    static let mremapFixed: Int32 = 2  // MREMAP_FIXED

    /// A base.bin mapping overlaid with the seed segments (read-write, private).
    struct Overlaid {
        let base: MappedFile
        let overlay: MappedFile
        let id: OverlayID
        let view: ExpectedView

        init(_ device: OverlayDevice, _ data: TestData, pages: Int? = nil) throws {
            base = try MappedFile.map(DataFile.base.name, pages: pages, protection: PROT_READ | PROT_WRITE)
            overlay = try MappedFile.map(DataFile.overlay.name)
            id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
            view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
        }
    }

    /// The cleanup of an id whose mapping changed: the id may still be
    /// registered (0) or released with the mapping (ENOENT); nothing else.
    static func expectCleanupAfterChange(_ device: OverlayDevice, _ id: OverlayID, _ what: String) {
        let result = errnoCode(try device.cleanup(id))
        expect(result == 0 || result == ENOENT, "cleanup after \(what): expected success or ENOENT, got \(Errno.describe(result))")
        Log.note("cleanup after \(what): \(Errno.describe(result))")
    }

    static func munmapWithoutCleanup() throws {
        try withDevice { device in
            let data = try TestData.load()
            let overlaid = try Overlaid(device, data)
            defer { overlaid.overlay.unmap() }
            overlaid.base.touch(0..<100)
            overlaid.base.unmap()
            // A new mapping at the same address shows base.bin: nothing of
            // the overlay is left there.
            let again = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE, at: overlaid.base.address)
            defer { again.unmap() }
            verifyPages(again, ExpectedView(base: data.base), label: "new mapping at the unmapped overlay's address")
            expectCleanupAfterChange(device, overlaid.id, "munmap")
            // And it can be overlaid afresh.
            let id = try device.overlay(base: again, overlay: overlaid.overlay, segments: [10...20])
            verifyPages(again, ExpectedView(base: data.base).overlaid(data.overlay, [10...20]), label: "new overlay at the same address")
            expectErrno(try device.cleanup(id), 0, "cleanup of the new overlay")
        }
    }

    static func partialMunmap() throws {
        try withDevice { device in
            let data = try TestData.load()
            let overlaid = try Overlaid(device, data)
            defer { overlaid.overlay.unmap() }
            let base = overlaid.base
            let count = base.pageCount
            let (holeStart, holeEnd) = (count * 3 / 10, count * 7 / 10)
            base.touch(0..<count / 2)  // some pages cached before, some first touched after
            munmap(base.pointer(toFilePage: holeStart), (holeEnd - holeStart) * pageSize)
            let parts = [base.part(0..<holeStart), base.part(holeEnd..<count)]
            for part in parts { verifyPages(part, overlaid.view, label: "left of the mapping: \(part.name)") }
            try SystemFiles.dropCaches()
            for part in parts { verifyPages(part, overlaid.view, label: "\(part.name) (caches dropped)") }
            // The hole is unmapped: reading it faults.
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
            defer { scratch.deallocate() }
            expect(base.read(filePage: holeStart, into: scratch) == SIGSEGV, "the unmapped middle is still readable")
            expectCleanupAfterChange(device, overlaid.id, "partial munmap")
            for part in parts { verifyPages(part, overlaid.view, label: "\(part.name) after cleanup") }
            for part in parts { part.unmap() }
        }
    }

    static func mprotectSplit() throws {
        try withDevice { device in
            let data = try TestData.load()
            let overlaid = try Overlaid(device, data)
            defer { overlaid.overlay.unmap() }
            let base = overlaid.base
            defer { base.unmap() }
            let count = base.pageCount
            let (middleStart, middleEnd) = (100, count * 7 / 10)
            base.touch(0..<50)
            try require(mprotect(base.pointer(toFilePage: middleStart), (middleEnd - middleStart) * pageSize, PROT_READ) == 0,
                        "mprotect: \(Errno.current)")
            var view = overlaid.view
            verifyPages(base, view, label: "split mapping")
            // Writes into the outer (writable) parts copy what they show;
            // the read-only middle refuses writes.
            var generator = freshGenerator()
            for page in [90, middleEnd + 5] {
                let bytes = generator.page()
                expect(base.write(filePage: page, bytes: bytes) == 0, "writing page \(page) of a writable part faulted")
                view.write(page: page, bytes: bytes, what: "the data written to page \(page)")
            }
            let signal = base.write(filePage: 120, bytes: [0])
            expect(signal == SIGSEGV, "writing the read-only middle: expected SIGSEGV, got \(signal == 0 ? "no fault" : signalName(signal))")
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "split mapping after writes (caches dropped)")
            // Back to one protection (the parts may merge again).
            try require(mprotect(base.pointer(toFilePage: middleStart), (middleEnd - middleStart) * pageSize, PROT_READ | PROT_WRITE) == 0,
                        "mprotect back: \(Errno.current)")
            let bytes = generator.page()
            expect(base.write(filePage: 120, bytes: bytes) == 0, "writing page 120 after mprotect back faulted")
            view.write(page: 120, bytes: bytes, what: "the data written to page 120")
            verifyPages(base, view, label: "mapping after mprotect back")
            expectCleanupAfterChange(device, overlaid.id, "mprotect split")
            verifyPages(base, view, label: "mapping after cleanup")
        }
    }

    static func mremapMoves() throws {
        try withDevice { device in
            let data = try TestData.load()
            let half = data.pageCount / 2
            let overlaid = try Overlaid(device, data, pages: half)
            defer { overlaid.overlay.unmap() }
            overlaid.base.touch(0..<100)
            // Move: onto an anonymous mapping of the same size (replaced).
            let target = try MappedFile.anonymous(pages: half)
            let moved = batch_syscalls_mremap(overlaid.base.address, overlaid.base.length, overlaid.base.length,
                                              mremapMayMove | mremapFixed, target.address)
            guard let moved, moved != MAP_FAILED else {
                overlaid.base.unmap()
                target.unmap()
                throw TestFailure("mremap (move): \(Errno.current)")
            }
            var current = MappedFile(mappedAt: moved, length: overlaid.base.length, firstFilePage: 0, name: "moved mapping")
            verifyPages(current, overlaid.view, label: "moved mapping")
            // Grow to the whole file (the overlaid file has the base's size).
            let grownLength = data.pageCount * pageSize
            if let grown = batch_syscalls_mremap(current.address, current.length, grownLength, mremapMayMove, nil), grown != MAP_FAILED {
                current = MappedFile(mappedAt: grown, length: grownLength, firstFilePage: 0, name: "grown mapping")
                verifyPages(current, overlaid.view, label: "grown mapping (\(data.pageCount) pages)")
            } else {
                Log.fail("mremap (grow to \(data.pageCount) pages): \(Errno.current)")
            }
            // Shrink to a quarter.
            let shrunkLength = (data.pageCount / 4) * pageSize
            if let shrunk = batch_syscalls_mremap(current.address, current.length, shrunkLength, 0, nil), shrunk != MAP_FAILED {
                current = MappedFile(mappedAt: shrunk, length: shrunkLength, firstFilePage: 0, name: "shrunk mapping")
                verifyPages(current, overlaid.view, label: "shrunk mapping (\(data.pageCount / 4) pages)")
            } else {
                Log.fail("mremap (shrink): \(Errno.current)")
            }
            try SystemFiles.dropCaches()
            verifyPages(current, overlaid.view, label: "\(current.name) (caches dropped)")
            expectCleanupAfterChange(device, overlaid.id, "mremap")
            verifyPages(current, overlaid.view, label: "\(current.name) after cleanup")
            current.unmap()
        }
    }

    static func exitWithoutCleanup() throws {
        try withDevice { device in
            let data = try TestData.load()
            let overlaid = try Overlaid(device, data)
            defer { overlaid.base.unmap(); overlaid.overlay.unmap() }
            // A child overlays a mapping of its own and exits with it mapped
            // and its id not cleaned up; it also touches the inherited one.
            let exiting = ChildProcess.spawn("child that exits") {
                let own = try MappedFile.map(DataFile.base2.name, protection: PROT_READ | PROT_WRITE)
                let overlay = try MappedFile.map(DataFile.zebra.name)
                _ = try device.overlay(base: own, overlay: overlay, segments: [0...500])
                verifyPages(own, ExpectedView(base: data.base2).overlaid(data.zebra, [0...500]), label: "child's own overlay")
                verifyPages(overlaid.base, overlaid.view, label: "child: inherited mapping")
            }
            exiting.expectSuccess("child that exits")
            // The same, killed by SIGKILL while its overlay is alive.
            let ready = try EventPipe()
            let killed = ChildProcess.spawn("child killed with SIGKILL") {
                let own = try MappedFile.map(DataFile.base2.name, protection: PROT_READ | PROT_WRITE)
                let overlay = try MappedFile.map(DataFile.overlay.name)
                _ = try device.overlay(base: own, overlay: overlay, segments: seedSegments)
                own.touch(0..<50)
                ready.send()
                Stopwatch.sleep(seconds: 100)
            }
            ready.closeWrite()
            expect(ready.receive() != nil, "the child to be killed did not create its overlay")
            ready.closeRead()
            killed.kill()
            _ = killed.wait()
            try SystemFiles.dropCaches()
            verifyPages(overlaid.base, overlaid.view, label: "parent's mapping after its children exited")
            expectErrno(try device.cleanup(overlaid.id), 0, "parent: cleanup")
        }
    }
}
