// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// The reverse map stays right: truncating a layer, compaction and memory
/// pressure keep the data right (and the console clean: the harness checks it).
enum ReverseMapScenarios {
    static var all: [Scenario] { [
        Scenario("rmap: truncating the overlay layer while mapped (read pages kept, past the new end SIGBUS)", truncateLayer),
        Scenario("rmap: compaction while the overlay is read", compaction),
        Scenario("rmap: memory pressure in a 32M memory cgroup (pages reclaimed and re-read)", memoryPressure),
    ] }

    /// A copy of overlay.bin overlays all pages; the first quarter is read;
    /// the copy is truncated to half its size while mapped.
    static func truncateLayer() throws {
        try withDevice { device in
            let data = try TestData.load()
            let count = data.pageCount
            let copy = try ScratchFile.copy(of: DataFile.overlay.name, bytes: data.overlay.size, name: "overlay-copy")
            defer { copy.close() }
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let overlay = try MappedFile.map(fd: copy.fd, name: "copy of overlay.bin")
            defer { overlay.unmap() }
            let segments = [0...(count - 1)]
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            // No read-around: only the pages read below enter the overlaid
            // file's cache (after the request: it replaced the mapping).
            expect(madvise(base.address, base.length, MADV_RANDOM) == 0, "madvise(MADV_RANDOM): \(Errno.current)")
            let (quarter, half) = (count / 4, count / 2)
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            let before = PageVerifier("pages read before the truncation", view: view)
            for page in 0..<quarter { before.check(base, filePage: page) }
            before.finish()

            try copy.truncate(bytes: half * pageSize)
            let truncated = try FileImage.load(fd: copy.fd, name: "truncated copy of overlay.bin")
            try require(truncated.pageCount == half, "the truncated copy has \(truncated.pageCount) pages")
            let after = ExpectedView(base: data.base).overlaid(truncated, segments)
            // Read before: kept. Below the new end: the (unchanged) data.
            // Past the new end: SIGBUS, as for any mapping past the end of file.
            let kept = PageVerifier("pages read before the truncation, read again", view: view)
            for page in 0..<quarter { kept.check(base, filePage: page) }
            kept.finish()
            let remaining = PageVerifier("pages first read after the truncation", view: after)
            for page in quarter..<count { remaining.check(base, filePage: page) }
            remaining.finish()
            // The layer's own mapping agrees with the kernel's rule.
            let own = PageVerifier("the copy's own mapping after the truncation", view: ExpectedView(base: truncated))
            for page in overlay.filePages { own.check(overlay, filePage: page) }
            own.finish()
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    static func compaction() throws {
        let path = "/proc/sys/vm/compact_memory"
        try withDevice { device in
            guard SystemFiles.exists(path) else { throw SkipScenario("no \(path) (kernel without CONFIG_COMPACTION)") }
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (data, base, overlay) = (fixture.data, fixture.base, fixture.overlay)
            let segments = SeedSegments.zebra(pages: base.pageCount, run: 4, overlayFirst: false).ranges
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            try SystemFiles.dropCaches()
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            let stop = StopFlag()
            let passes = Locked(0)
            try ThreadGroup.run(3) { member in
                let thread = member.index
                if thread == 2 {
                    // Compaction rounds while two threads read; dropping the
                    // caches in between makes the readers fault pages in again.
                    for round in 0..<8 {
                        do {
                            try SystemFiles.write(path, "1")
                            if round % 3 == 1 { try SystemFiles.dropCaches() }
                        } catch {
                            Log.fail("compaction round \(round): \(error)")
                        }
                    }
                    stop.set()
                    return
                }
                repeat {
                    if !verifyPages(base, view, label: "reader \(thread) during compaction", order: MultithreadScenarios.walk(count: base.pageCount, thread: thread)) {
                        stop.set()
                    }
                    passes.withLock { $0 += 1 }
                } while !stop.isSet
            }
            Log.note("\(passes.withLock { $0 }) verification passes during compaction")
            verifyPages(base, view, label: "after compaction")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// A child in a cgroup with memory.max=32M maps baseXL.bin and
    /// overlayXL.bin (segments: every other run of 8 pages) and verifies
    /// every page twice: far more than 32M, so pages are reclaimed and read
    /// again through the overlay.
    static func memoryPressure() throws {
        try withDevice { device in
            for name in [DataFile.baseXL.name, DataFile.overlayXL.name] { try DataFile.require(name) }
            let baseImage = try FileImage.onDemand(DataFile.baseXL.name)
            let overlayImage = try FileImage.onDemand(DataFile.overlayXL.name)
            try require(baseImage.size >= 48 << 20 && overlayImage.size >= baseImage.size,
                        "baseXL.bin and overlayXL.bin must hold at least 48 MiB (sample-files --xl-pages 16384)")
            let group = try Cgroup.create("overlay-tests-\(getpid())", memoryMax: "32M")
            defer { group.remove() }
            let child = ChildProcess.spawn("child in the 32M cgroup") {
                try group.join()
                let base = try MappedFile.map(DataFile.baseXL.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                let overlay = try MappedFile.map(DataFile.overlayXL.name)
                defer { overlay.unmap() }
                let segments = SeedSegments.zebra(pages: base.pageCount, run: 8, overlayFirst: false).ranges
                let id = try device.overlay(base: base, overlay: overlay, segments: segments)
                let view = ExpectedView(base: baseImage).overlaid(overlayImage, segments)
                for pass in 1...2 {
                    verifyPages(base, view, label: "pass \(pass) over \(base.pageCount) pages")
                }
                expectErrno(try device.cleanup(id), 0, "cleanup")
            }
            child.expectSuccess("child in the 32M cgroup", timeout: 900)
            Log.note("memory.events: max \(group.event("max")), oom \(group.event("oom")), oom_kill \(group.event("oom_kill")); "
                     + "memory.stat: workingset_refault_file \(group.stat("workingset_refault_file")), pgmajfault \(group.stat("pgmajfault"))")
            expect(group.event("oom_kill") == 0, "the memory cgroup OOM-killed a task")
        }
    }
}
