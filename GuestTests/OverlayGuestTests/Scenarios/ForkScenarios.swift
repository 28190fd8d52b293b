// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// fork: an inherited mapping shows what the parent's shows; either side
/// may clean up, unmap or exit first; only the creator may clean up.
enum ForkScenarios {
    static var all: [Scenario] { [
        Scenario("fork: 100 children each hold their own overlay at the same time", hundredChildren),
        Scenario("fork: inherited mapping (child cleanup EPERM, parent cleans up, then unmaps first)", inheritedMapping),
        Scenario("fork: parent's mapping after children unmap or exit first", childrenLeaveFirst),
        Scenario("fork: grandchild keeps the mapping after the creator exits (subreaper)", grandchildOutlivesCreator),
    ] }

    static let childCount = 100

    /// Each child maps the first 192 pages of base.bin, overlays, verifies,
    /// reports ready, waits until all are ready (all overlays alive at
    /// once), cleans up and verifies again.
    static func hundredChildren() throws {
        try withDevice { _ in
            let data = try TestData.load()  // before fork: shared by all children
            let ready = try EventPipe()
            let go = try EventPipe()
            var children: [ChildProcess] = []
            for child in 0..<childCount {
                let pid = ChildProcess.spawn("child \(child)") {
                    ready.closeRead()
                    go.closeWrite()
                    var reported = false
                    defer { if !reported { ready.send(0) } }
                    let device = try OverlayDevice.openForScenario()
                    let base = try MappedFile.map(DataFile.base.name, pages: 192, protection: PROT_READ | PROT_WRITE)
                    let overlay = try MappedFile.map(child % 3 == 0 ? DataFile.zebra.name : DataFile.overlay.name)
                    let image = child % 3 == 0 ? data.zebra : data.overlay
                    let segments = child % 2 == 0 ? seedSegments : SeedSegments.zebra(pages: 192, run: child % 7 + 1, overlayFirst: false).ranges
                    let id = try device.overlay(base: base, overlay: overlay, segments: segments)
                    let view = ExpectedView(base: data.base).overlaid(image, segments)
                    verifyPages(base, view, label: "child \(child)")
                    ready.send(1)
                    reported = true
                    _ = go.receive(timeout: 150)  // end of file: everybody is ready
                    expectErrno(try device.cleanup(id), 0, "child \(child): cleanup")
                    verifyPages(base, view, label: "child \(child) after cleanup")
                }
                if pid.id < 0 { break }
                children.append(pid)
            }
            ready.closeWrite()
            go.closeRead()
            var alive = 0
            for _ in children {
                // A child that died without reporting would stall this: give up after a minute.
                guard let byte = ready.receive(timeout: 60) else { break }
                if byte == 1 { alive += 1 }
            }
            Log.note("\(alive) of \(children.count) children held a verified overlay at the same time")
            expect(alive == childCount, "only \(alive) of \(childCount) children created and verified their overlay")
            go.closeWrite()
            for (index, pid) in children.enumerated() {
                pid.expectSuccess("child \(index)")
            }
        }
    }

    static func inheritedMapping() throws {
        try withDevice { device in
            let data = try TestData.load()
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            let overlay = try MappedFile.map(DataFile.overlay.name)
            defer { overlay.unmap() }
            let id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
            let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
            // The parent touches only the first 100 pages: the child's first
            // touch of the others goes through the inherited mapping.
            base.touch(0..<100)
            let toChild = try EventPipe()
            let toParent = try EventPipe()
            let pid = ChildProcess.spawn("child") {
                toChild.closeWrite()
                toParent.closeRead()
                verifyPages(base, view, label: "child: inherited mapping")
                expectErrno(try device.cleanup(id), EPERM, "child: cleanup of the parent's id")
                let fresh = try MappedFile.map(DataFile.base.name, name: "child: a new mapping of base.bin")
                verifyPages(fresh, ExpectedView(base: data.base), label: fresh.name)
                fresh.unmap()
                // A private write in the child: the parent must not see it.
                var generator = freshGenerator()
                var childView = view
                for page in [5, 50] {
                    let bytes = generator.page()
                    expect(base.write(filePage: page, bytes: bytes) == 0, "child: writing page \(page) faulted")
                    childView.write(page: page, bytes: bytes, what: "the child's write to page \(page)")
                }
                toParent.send()
                try require(toChild.receive() != nil, "child: the parent went away")
                verifyPages(base, childView, label: "child: after the parent's cleanup")
                toParent.send()
                try require(toChild.receive() != nil, "child: the parent went away")
                try SystemFiles.dropCaches()
                verifyPages(base, childView, label: "child: after the parent unmapped (caches dropped)")
            }
            toChild.closeRead()
            toParent.closeWrite()
            defer { pid.expectSuccess("child") }
            guard toParent.receive() != nil else {
                base.unmap()
                throw TestFailure("the child ended before its checks")
            }
            verifyPages(base, view, label: "parent: after the child's writes and failed cleanup")
            expectErrno(try device.cleanup(id), 0, "parent: cleanup after the child's EPERM")
            toChild.send()
            _ = toParent.receive()
            base.unmap()
            toChild.send()
        }
    }

    /// The parent keeps its mapping while one child unmaps and exits and
    /// another exits (or is killed) with the mapping still there.
    static func childrenLeaveFirst() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let base = fixture.base
            let id = try device.overlay(base: base, overlay: fixture.overlay, segments: seedSegments)
            let view = fixture.seedView

            let unmapper = ChildProcess.spawn("child that unmaps") {
                verifyPages(base, view, label: "child that unmaps")
                _ = base.write(filePage: 31, bytes: [1, 2, 3])
                base.unmap()
            }
            unmapper.expectSuccess("child that unmaps")
            let exiter = ChildProcess.spawn("child that exits") {
                verifyPages(base, view, label: "child that exits")
            }
            exiter.expectSuccess("child that exits")
            let ready = try EventPipe()
            let killed = ChildProcess.spawn("child killed with SIGKILL") {
                _ = base.write(filePage: 4, bytes: [9])
                ready.send()
                Stopwatch.sleep(seconds: 100)
            }
            ready.closeWrite()
            _ = ready.receive()
            killed.kill()
            let status = killed.wait()
            expect(status.signaled && status.signal == SIGKILL, "child killed with SIGKILL: \(status)")
            ready.closeRead()

            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "parent: after its children left")
            expectErrno(try device.cleanup(id), 0, "parent: cleanup")
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "parent: after cleanup")
        }
    }

    /// The scenario process is a subreaper; the creator overlays, forks a
    /// grandchild and exits without cleanup; the grandchild, reparented to
    /// the scenario process, still sees the overlay.
    static func grandchildOutlivesCreator() throws {
        try withDevice { device in
            try ChildProcess.becomeSubreaper()
            let data = try TestData.load()
            let scenarioPid = getpid()
            let creator = ChildProcess.spawn("creator") {
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                let overlay = try MappedFile.map(DataFile.overlay.name)
                let id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
                let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
                verifyPages(base, view, label: "creator")
                overlay.unmap()  // the overlay file stays referenced by the overlaid mapping
                let checked = try EventPipe()
                let creatorPid = getpid()
                _ = ChildProcess.spawn("grandchild") {
                    checked.closeRead()
                    expectErrno(try device.cleanup(id), EPERM, "grandchild: cleanup of the creator's id")
                    checked.send()
                    checked.closeWrite()
                    let deadline = Stopwatch.nowSeconds() + 60
                    while getppid() == creatorPid && Stopwatch.nowSeconds() < deadline { Stopwatch.sleep(seconds: 0.01) }
                    expect(getppid() == scenarioPid, "grandchild: parent is \(getppid()) after the creator exited, expected the subreaper \(scenarioPid)")
                    verifyPages(base, view, label: "grandchild: after the creator exited")
                    try SystemFiles.dropCaches()
                    verifyPages(base, view, label: "grandchild: after the creator exited (caches dropped)")
                    let result = errnoCode(try device.cleanup(id))
                    expect(result == EPERM || result == ENOENT,
                           "grandchild: cleanup of the exited creator's id: expected EPERM or ENOENT, got \(Errno.describe(result))")
                    base.unmap()
                }
                checked.closeWrite()
                _ = checked.receive()
                // Exit without cleanup and without unmapping.
            }
            creator.expectSuccess("creator")
            guard let (_, status) = ChildProcess.reap(nil, timeout: 120) else {
                throw TestFailure("the grandchild did not finish within 120 s")
            }
            expect(status.succeeded, "grandchild: \(status)")
        }
    }
}
