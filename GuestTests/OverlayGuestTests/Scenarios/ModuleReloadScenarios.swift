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
        Scenario("lifecycle: rmmod refused while an overlay is mapped; then rmmod, reload and page_fault", reload),
    ] }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// delete_module(name, O_NONBLOCK): 0 or the errno.
    static func deleteModule(_ name: String) -> Int32 {
        batch_syscalls_delete_module(name, UInt32(O_NONBLOCK)) == 0 ? 0 : errno
    }

    static func reload() throws {
        // Optional, so that setting it to nil closes it at a known point.
        var device: OverlayDevice? = try openDeviceAsRoot()
        guard let ko = environment("BATCH_SYSCALLS_KO") else {
            device = nil
            throw SkipScenario("BATCH_SYSCALLS_KO is not set (the guest harness sets it)")
        }
        let name = environment("BATCH_SYSCALLS_MODULE") ?? "batch_syscalls"
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
            throw TestFailure("delete_module(\(name)) after the last overlay was unmapped: \(Errno.describe(result)) (refcnt \(refcount)): an overlay leaked")
        }
        if attempts > 1 { Log.note("delete_module succeeded after \(attempts) attempts") }
        let gone = open(OverlayDevice.defaultPath.string, O_RDWR | O_CLOEXEC)
        if gone >= 0 {
            close(gone)
            Log.fail("\(OverlayDevice.defaultPath) still opens after rmmod")
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
