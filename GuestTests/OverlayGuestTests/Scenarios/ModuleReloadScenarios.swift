// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// rmmod with a live overlay mapping is refused and the mapping keeps
/// working; without one it succeeds and the module loads again. Runs last.
enum ModuleReloadScenarios {
    static var all: [Scenario] { [
        Scenario("lifecycle: rmmod attempts race a loading set's read-ahead: refused while the overlay is mapped, and as its reads finish after the munmap; then rmmod succeeds and the module loads again",
                 rmmodRacesReadAhead),
        Scenario("lifecycle: rmmod with an unused lower stack kept for the next restore succeeds (its exit evicts it); the module loads again with none",
                 rmmodWithUnusedLowerStack),
        Scenario("lifecycle: rmmod refused while an overlay is mapped; then rmmod, reload and page_fault", reload),
    ] }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The module's .ko and name, as the guest harness gives them.
    static func moduleUnderTest() throws -> (ko: String, name: String) {
        guard let ko = environment("BATCH_SYSCALLS_KO") else {
            throw SkipScenario("BATCH_SYSCALLS_KO is not set (the guest harness sets it)")
        }
        return (ko, environment("BATCH_SYSCALLS_MODULE") ?? "batch_syscalls")
    }

    /// delete_module(name, O_NONBLOCK): 0 or the errno.
    static func deleteModule(_ name: String) -> Int32 {
        batch_syscalls_delete_module(name, UInt32(O_NONBLOCK)) == 0 ? 0 : errno
    }

    /// delete_module once nothing should hold the module, retried for up to
    /// 5 s while it is busy: an overlay's inode, which holds the module,
    /// goes after an RCU grace period. Throws, naming `what` and `leak`
    /// with the refcount, unless it succeeded.
    static func deleteModuleWhenReleased(_ name: String, _ what: String, leak: String) throws {
        let busy: Set<Int32> = [EBUSY, EAGAIN]
        var result: Int32
        var attempts = 0
        let deadline = Stopwatch.nowSeconds() + 5
        repeat {
            attempts += 1
            result = deleteModule(name)
            if result == 0 || !busy.contains(result) { break }
            Stopwatch.sleep(seconds: 0.1)
        } while Stopwatch.nowSeconds() < deadline
        guard result == 0 else {
            let refcount = SystemFiles.read("/sys/module/\(name)/refcnt")?.split(separator: "\n").first.map(String.init) ?? "?"
            throw TestFailure("delete_module(\(name)) \(what): \(Errno.describe(result)) (refcnt \(refcount)): \(leak)")
        }
        if attempts > 1 { Log.note("delete_module succeeded after \(attempts) attempts") }
    }

    /// A restore of [base, c1, own diff] ends: its lower stack (base and
    /// c1) stays, unused, and holds no module reference, so rmmod succeeds
    /// (the unmount at the module's exit evicts it) and the module loads
    /// again without it.
    static func rmmodWithUnusedLowerStack() throws {
        let (ko, name) = try moduleUnderTest()
        let data = try TestData.load()
        let pages = data.base.pageCount
        let c1 = try SparseLayer.write(name: "rmmod-c1", pages: pages, data: [0...63, 500...563], stream: 970)
        defer { c1.close() }
        let own = try FleetScenarios.ownDiff("rmmod-own", pages: pages, runs: 6, stream: 971)
        defer { own.close() }
        do {
            let device = try openDeviceAsRoot()
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [c1.raw(), own.raw()]),
                                      "v2 request")
            let view = ExpectedView(base: data.base).overlaid(c1.image, c1.data).overlaid(own.image, own.data)
            verifyPages(base, view, label: "restore of [base, c1, own diff]")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
        let kept = try FleetScenarios.lowerStacks { $0.unused >= 1 && $0.inUse == 0 }
        try require(kept.unused >= 1 && kept.inUse == 0,
                    "after the restore: lower stacks \(kept), want its lower stack kept unused and none in use")

        try deleteModuleWhenReleased(name, "with \(kept.unused) unused lower stacks kept",
                                     leak: "an unused lower stack holds the module")
        try load(ko)
        let fresh = try FleetScenarios.lowerStacks()
        expect(fresh.alive == 0 && fresh.unused == 0, "after the reload: lower stacks \(fresh), want none")
    }

    static func reload() throws {
        // Optional, so that setting it to nil closes it at a known point.
        var device: OverlayDevice? = try openDeviceAsRoot()
        let (ko, name) = try moduleUnderTest()
        let data = try TestData.load()
        let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
        let overlay = try MappedFile.map(DataFile.overlay.name)
        let id = try device!.overlay(base: base, overlay: overlay, segments: seedSegments)
        let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
        verifyPages(base, view, label: "overlaid mapping")
        overlay.unmap()
        device = nil  // closed: only the overlaid mapping refers to the module now

        let busy: Set<Int32> = [EBUSY, EAGAIN]
        var result = deleteModule(name)
        if result == 0 {
            Log.fail("delete_module(\(name)) succeeded while an overlay was mapped")
            base.unmap()  // the module is gone: do not touch the mapping
            try load(ko)
            return
        }
        expect(busy.contains(result), "delete_module with an overlay mapped: expected EBUSY or EWOULDBLOCK, got \(Errno.describe(result))")
        try SystemFiles.dropCaches()
        verifyPages(base, view, label: "overlaid mapping after the refused rmmod (caches dropped)")

        // Cleanup releases the id, not the mapping: still refused.
        var again: OverlayDevice? = try OverlayDevice.openForScenario()
        expectErrno(try again!.cleanup(id), 0, "cleanup")
        again = nil
        result = deleteModule(name)
        expect(result != 0, "delete_module succeeded after cleanup while the overlay was still mapped")
        if result == 0 {
            base.unmap()
            try load(ko)
            return
        }
        verifyPages(base, view, label: "overlaid mapping after cleanup and a second refused rmmod")
        base.unmap()

        // Nothing is mapped: rmmod succeeds (released references may take a moment).
        try deleteModuleWhenReleased(name, "after the last overlay was unmapped", leak: "an overlay leaked")
        let gone = open(OverlayDevice.defaultPath.string, O_RDWR | O_CLOEXEC)
        if gone >= 0 {
            close(gone)
            Log.fail("\(OverlayDevice.defaultPath) still opens after rmmod")
        }
        try load(ko)
        let fresh = try OverlayDevice.openForScenario()
        try PageFaultRun(caches: .warm).run(fresh)
    }

    /// Caches dropped, a chain over the 64 MiB XL files whose loading set is
    /// every page: as the request returns, its reads in flight, a thread
    /// calls delete_module in a loop while this one touches pages and then
    /// unmaps the overlay. Every attempt while the overlay is mapped is
    /// refused; after the munmap, attempts are refused until the last read
    /// lets go of the overlay (the fill workers run module code), then one
    /// succeeds, the kernel stays clean (the console scan), and the module
    /// loads again.
    static func rmmodRacesReadAhead() throws {
        var device: OverlayDevice? = try openDeviceAsRoot()
        let (ko, name) = try moduleUnderTest()
        let baseImage = try FileImage.load(DataFile.baseXL.name)
        let overlayImage = try FileImage.load(DataFile.overlayXL.name)
        let pageCount = baseImage.pageCount
        let segments = stride(from: 0, to: pageCount, by: 20).map { $0...($0 + 9) }
        let view = ExpectedView(base: baseImage).overlaid(overlayImage, segments)
        let overlayFD = open(DataFile.overlayXL.name, O_RDONLY | O_CLOEXEC)
        if overlayFD < 0 { throw SysError("open \(DataFile.overlayXL.name)") }
        let base = try MappedFile.map(DataFile.baseXL.name, protection: PROT_READ | PROT_WRITE)
        try SystemFiles.dropCaches()
        let layer = RawLayer(fileDescriptor: overlayFD, flags: RawLayer.sharedFlag, segments: RawSegments(ranges: segments))
        var request = RawStackRequest(baseAddress: base.address, layers: [layer])
        request.loadingSet = .array(RawSegments(ranges: [0...pageCount - 1]))
        _ = try device!.stack(request, "the request with a loading set of every page")
        close(overlayFD)
        device = nil  // only the mapping and the reads in flight hold the module now

        // The attempts: each result, and whether the overlay was still
        // mapped when it started. Thread 0 removes, thread 1 touches and unmaps.
        struct Attempt { var mapped: Bool; var result: Int32 }
        let state = Locked((mapped: true, attempts: [Attempt]()))
        try ThreadGroup.run(2) { member in
            if member.index == 0 {
                let deadline = Stopwatch.nowSeconds() + 30
                while Stopwatch.nowSeconds() < deadline {
                    let wasMapped = state.withLock { $0.mapped }
                    let result = deleteModule(name)
                    state.withLock { $0.attempts.append(Attempt(mapped: wasMapped, result: result)) }
                    if result == 0 { return }
                    Stopwatch.sleep(seconds: 0.001)
                }
            } else {
                verifyPages(base, view, label: "the overlay as rmmod attempts run",
                            order: Array(MultithreadScenarios.walk(count: pageCount, thread: 1).prefix(pageCount / 8)))
                state.withLock { $0.mapped = false }
                base.unmap()
            }
        }

        let all = state.withLock { $0.attempts }
        let busy: Set<Int32> = [EBUSY, EAGAIN]
        let whileMapped = all.filter(\.mapped)
        expect(!whileMapped.isEmpty, "no delete_module attempt ran while the overlay was mapped")
        for attempt in whileMapped where attempt.result != 0 && !busy.contains(attempt.result) {
            Log.fail("delete_module while the overlay was mapped: \(Errno.describe(attempt.result)), want EBUSY or EWOULDBLOCK")
        }
        expect(!whileMapped.contains { $0.result == 0 }, "delete_module succeeded while the overlay was mapped")
        let refusedAfter = all.filter { !$0.mapped && $0.result != 0 }.count
        Log.note("\(all.count) delete_module attempts: \(whileMapped.count) while mapped, \(refusedAfter) refused after the munmap")
        guard all.last?.result == 0 else {
            let refcount = SystemFiles.read("/sys/module/\(name)/refcnt")?.split(separator: "\n").first.map(String.init) ?? "?"
            throw TestFailure("delete_module never succeeded within 30 s of the munmap (last: \(all.last.map { Errno.describe($0.result) } ?? "none"), refcnt \(refcount))")
        }
        try load(ko)
        let fresh = try OverlayDevice.openForScenario()
        try PageFaultRun(caches: .warm).run(fresh)
    }

    /// finit_module of the .ko, then waits for the device node.
    static func load(_ ko: String) throws {
        let fd = open(ko, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(ko)") }
        defer { close(fd) }
        if batch_syscalls_finit_module(fd, "", 0) != 0 { throw SysError("finit_module(\(ko))") }
        let deadline = Stopwatch.nowSeconds() + 5
        while !OverlayDevice.exists() && Stopwatch.nowSeconds() < deadline { Stopwatch.sleep(seconds: 0.05) }
        try require(OverlayDevice.exists(), "\(OverlayDevice.defaultPath) did not come back after loading \(ko)")
    }
}
