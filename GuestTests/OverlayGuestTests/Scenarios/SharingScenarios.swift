// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Identical stacks share one overlay inode, whichever processes make the
/// requests, and nothing else changes: each request its own id, EEXIST,
/// EBUSY, cleanup and stacking per mapping, private writes private, a
/// changed layer never shared (docs/abi.md, "Sharing").
enum SharingScenarios {
    static var all: [Scenario] { [
        Scenario("Sharing: 3 processes making the same request map one overlay (one number, attached=3, page cache not tripled)",
                 sameRequestShares),
        Scenario("Sharing: ids, EEXIST, EBUSY and the owner rule stay per mapping while processes share an overlay",
                 perMappingRules),
        Scenario("Sharing: stacking after cleanup leaves the other sharers' view alone; identical stacks share again",
                 stackingOnShared),
        Scenario("Sharing: cleanup, munmap, exit and SIGKILL in any order across sharing processes", anyOrder),
        Scenario("Sharing: private writes stay private to their process", privateWrites),
        Scenario("Sharing: a layer written, truncated, touched or open for writing is not shared; new requests see new data",
                 changedLayers),
        Scenario("Sharing: other segment tables, layer order or files do not share; same files by any path and same merged table do",
                 differentStacks),
        Scenario("Sharing: fork of a sharer (child keeps the parent's overlay attached after the parent leaves)",
                 forkOfSharer),
        Scenario("Sharing: a private write racing a create (the ABI's contract): EBUSY keeps it, else no page mixes base and overlay",
                 writeRacingCreate),
        Scenario("Sharing: a create stuck on userfaultfd-served request or segments holds up no other process's create",
                 stuckCreateBlocksNobody),
    ] }

    // MARK: One overlay for identical requests

    /// Three processes, one after the other, make the seed's request on
    /// their own mappings and read every page, caches dropped first: one
    /// overlay number, attached=3, stats +1 overlay, +3 files and ids, and
    /// only the first process grows the page cache.
    static func sameRequestShares() throws {
        try withDevice { _ in
            let data = try TestData.load()  // before the drop: its reads warm the files
            let before = try ModuleStats.read()
            try SystemFiles.dropCaches()
            var peers: [Peer] = []
            defer { for peer in peers { peer.finish() } }
            var growth: [Int] = []
            for index in 0..<3 {
                let label = "process \(index + 1)"
                let cached = try pageCacheKiB()
                let peer = try Peer.spawn(label) { link in
                    let device = try OverlayDevice.openForScenario()
                    let request = try SharingRequest.seed(device, data, label: label)
                    request.base.touch(request.base.filePages)
                    try link.step()
                    try SystemFiles.dropCaches()
                    verifyPages(request.base, request.view, label: "\(label) (caches dropped)")
                    expectErrno(try device.cleanup(request.id), 0, "\(label): cleanup")
                }
                peers.append(peer)
                try peer.awaitStep()
                growth.append(try pageCacheKiB() - cached)
            }
            let viewKiB = data.base.pageCount * pageSize / 1024
            Log.note("page cache growth as each process read every page: \(growth.map { "\($0) KiB" }) (the view is \(viewKiB) KiB)")
            expect(growth[0] >= viewKiB / 2, "the first process grew the page cache by \(growth[0]) KiB only: the measurement is broken")
            for index in 1..<3 {
                expect(growth[index] < viewKiB / 8,
                       "process \(index + 1) grew the page cache by \(growth[index]) KiB (the first by \(growth[0]) KiB): the view is cached twice")
            }
            let listed = try LiveOverlay.all().filter { entry in peers.contains { $0.pid == Int32(entry.processID) } }
            Log.note("listing: " + listed.map { "pid=\($0.processID) overlay=\($0.overlayNumber) attached=\($0.attachedRequests) cached=\($0.cachedPages)" }.joined(separator: "; "))
            expect(listed.count == 3, "\(listed.count) listed ids for the 3 processes, want 3")
            expect(Set(listed.map(\.id)).count == listed.count, "the processes share an id: \(listed.map(\.id))")
            expect(Set(listed.map(\.overlayNumber)).count == 1, "overlay numbers \(listed.map(\.overlayNumber)), want one")
            expect(listed.allSatisfy { $0.attachedRequests == 3 }, "attached \(listed.map(\.attachedRequests)), want 3 each")
            expect(listed.allSatisfy { $0.cachedPages == data.base.pageCount },
                   "cached pages \(listed.map(\.cachedPages)), want \(data.base.pageCount) (one copy of the view)")
            let stats = try ModuleStats.read()
            expect(stats == before.adding(overlays: 1, shareable: 1, files: 3, ids: 3),
                   "stats \(stats) with 3 sharers, want \(before.adding(overlays: 1, shareable: 1, files: 3, ids: 3))")
            for peer in peers { peer.finish() }
            peers = []
            let after = try ModuleStats.await(before)
            expect(after == before, "stats after every sharer left: \(after), want \(before)")
        }
    }

    // MARK: Per-mapping rules

    /// A and B share. A's second request on its mapping: EEXIST; B's
    /// request on a mapping with a private write: EBUSY (nothing changes);
    /// B cannot clean up A's id (EPERM); after A's cleanup B's id still
    /// holds its mapping (EEXIST there), and A may request again.
    static func perMappingRules() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let a = try Peer.spawn("A") { link in
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: "A")
                // Another mapping in A with the same stack: same overlay, own id.
                let second = try SharingRequest.seed(device, data, label: "A's second mapping")
                expect(second.id != request.id, "A: two mappings got the same id \(request.id)")
                expect(try second.overlayNumber("A's second") == request.overlayNumber("A"),
                       "A: two mappings with the same stack map different overlays")
                expectErrno(device.createErrno(RawCreateRequest(base: request.base.address, overlay: request.layer.address,
                                                                segments: seedSegments)), EEXIST,
                            "A: a second request on its overlaid mapping")
                let sharedNumber = try request.overlayNumber("A")
                try link.step()  // B's turn
                verifyPages(request.base, request.view, label: "A after B's requests")
                expectErrno(try device.cleanup(request.id), 0, "A: cleanup")
                expectErrno(try device.cleanup(request.id), ENOENT, "A: second cleanup of its id")
                expectErrno(try device.cleanup(second.id), 0, "A: cleanup of its second mapping's id")
                // After cleanup A's mapping takes a new request: the same
                // segments again flatten to the same stack, so it maps the
                // shared overlay once more.
                let again = try device.overlay(RawCreateRequest(base: request.base.address,
                                                                overlay: request.layer.address, segments: seedSegments),
                                               "A: request after cleanup")
                let entry = LiveOverlay.entry(for: again)
                expect(entry?.overlayNumber == sharedNumber,
                       "A: the new request (same stack) maps overlay \(entry.map { String($0.overlayNumber) } ?? "-"), want the shared \(sharedNumber)")
                try link.step()
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "A after its new request (caches dropped)")
                expectErrno(try device.cleanup(again), 0, "A: cleanup of the new request")
            }
            defer { a.finish() }
            try a.awaitStep()
            guard let aEntry = try LiveOverlay.all().first(where: { $0.processID == Int(a.pid) }) else {
                throw TestFailure("A's ids are not listed")
            }
            let shared = aEntry.overlayNumber
            let b = try Peer.spawn("B") { link in
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: "B")
                expect(try request.overlayNumber("B") == shared, "B's request does not share A's overlay \(shared)")
                expect(request.id != aEntry.id, "B got A's id")
                expectErrno(try device.cleanup(aEntry.id), EPERM, "B: cleanup of A's id")
                // A mapping holding a private write: EBUSY, and it keeps the write.
                let written = try MappedFile.map(DataFile.base.name, name: "B's written mapping", protection: PROT_READ | PROT_WRITE)
                defer { written.unmap() }
                var generator = freshGenerator()
                let bytes = generator.page()
                expect(written.write(filePage: 5, bytes: bytes) == 0, "B: private write faulted")
                let (error, id) = device.send(RawCreateRequest(base: written.address, overlay: request.layer.address,
                                                               segments: seedSegments),
                                              command: OverlayDevice.createCommand)
                expectErrno(error, EBUSY, "B: request on a mapping holding a private write")
                expect(id == OverlayID.zero, "B: the refused request wrote an id back: \(id)")
                var writtenView = ExpectedView(base: data.base)
                writtenView.write(page: 5, bytes: bytes, what: "B's write")
                verifyPages(written, writtenView, label: "B's written mapping after EBUSY")
                expect(try request.entry("B").attachedRequests == 3, "B: attached after the EBUSY, want 3 (A's two and B's)")
                try link.step()  // A cleans up
                expectErrno(device.createErrno(RawCreateRequest(base: request.base.address, overlay: request.layer.address,
                                                                segments: seedSegments)), EEXIST,
                            "B: a second request on its mapping after A's cleanup")
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "B after A's cleanup (caches dropped)")
                expectErrno(try device.cleanup(request.id), 0, "B: cleanup")
            }
            defer { b.finish() }
            try b.awaitStep()
            a.proceed()
            try a.awaitStep()
            b.proceed()
            b.finish()
            a.finish()
        }
    }

    // MARK: Stacking

    /// A and B share the seed's overlay. A cleans up and lays zebra pages
    /// over its view: A's mapping shows both, B's only the seed's; the
    /// shared overlay is attached once less. C builds the same stack in the
    /// same two steps and shares A's new overlay.
    static func stackingOnShared() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let zebraSegments = [100...120, 150...160, 600...610]
            func stacked(_ label: String, _ link: PeerLink) throws {
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: label)
                try link.step()  // the scenario checks the shared overlay
                let zebra = try MappedFile.map(DataFile.zebra.name, name: "\(label): zebra")
                defer { zebra.unmap() }
                expectErrno(try device.cleanup(request.id), 0, "\(label): cleanup")
                let id = try device.overlay(RawCreateRequest(base: request.base.address, overlay: zebra.address,
                                                             segments: zebraSegments), "\(label): zebra stacked")
                let view = request.view.overlaid(data.zebra, zebraSegments)
                try SystemFiles.dropCaches()
                verifyPages(request.base, view, label: "\(label): stacked (caches dropped)")
                try link.step()
                verifyPages(request.base, view, label: "\(label): stacked, at the end")
                expectErrno(try device.cleanup(id), 0, "\(label): cleanup of the stacked request")
            }
            let a = try Peer.spawn("A") { try stacked("A", $0) }
            defer { a.finish() }
            try a.awaitStep()
            let b = try Peer.spawn("B") { link in
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: "B")
                try link.step()
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "B after A stacked (caches dropped)")
                expectErrno(try device.cleanup(request.id), 0, "B: cleanup")
            }
            defer { b.finish() }
            try b.awaitStep()
            let shared = try entry(of: a, "A").overlayNumber
            expect(try entry(of: b, "B").overlayNumber == shared, "B does not share A's overlay")
            a.proceed()
            try a.awaitStep()  // A stacked
            let aStacked = try entry(of: a, "A stacked")
            expect(aStacked.overlayNumber != shared, "A's stacked request maps the seed's overlay \(shared)")
            expect(aStacked.layerCount == 3, "A's stacked overlay has \(aStacked.layerCount) layers, want 3")
            let attached = attachedCount(ofOverlay: shared, awaiting: 1)
            expect(attached == 1, "the seed's overlay is attached \(attached.map(String.init) ?? "-") times after A stacked, want 1 (B)")
            b.proceed()
            b.finish()
            let c = try Peer.spawn("C") { try stacked("C", $0) }
            defer { c.finish() }
            try c.awaitStep()
            c.proceed()
            try c.awaitStep()
            let cStacked = try entry(of: c, "C stacked")
            expect(cStacked.overlayNumber == aStacked.overlayNumber,
                   "C's stack (same two requests as A's) maps overlay \(cStacked.overlayNumber), A's \(aStacked.overlayNumber)")
            expect(cStacked.attachedRequests == 2, "A's and C's stacked overlay attached \(cStacked.attachedRequests), want 2")
            c.finish()
            a.finish()
        }
    }

    /// The one listed entry of a peer.
    static func entry(of peer: Peer, _ what: String) throws -> LiveOverlay {
        let entries = try LiveOverlay.all().filter { $0.processID == Int(peer.pid) }
        try require(entries.count == 1, "\(what): \(entries.count) listed ids for pid \(peer.pid), want 1")
        return entries[0]
    }

    // MARK: Any order

    /// Three rounds, each with two sharers A and B: (1) A cleans up, B
    /// reads, A exits without unmapping, B reads, B cleans up; (2) B is
    /// killed, A reads, A cleans up; (3) A unmaps without cleanup (its id
    /// goes), B reads, B exits without cleanup. After each round the stats
    /// return to where they were.
    static func anyOrder() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let before = try ModuleStats.read()
            func sharer(_ label: String, _ body: @escaping (OverlayDevice, SharingRequest, PeerLink) throws -> Void) throws -> Peer {
                try Peer.spawn(label) { link in
                    let device = try OverlayDevice.openForScenario()
                    let request = try SharingRequest.seed(device, data, label: label)
                    try link.step()
                    try body(device, request, link)
                }
            }
            func verify(_ request: SharingRequest, _ label: String) throws {
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "\(label) (caches dropped)")
            }

            // Round 1.
            var a = try sharer("round 1 A") { device, request, link in
                expectErrno(try device.cleanup(request.id), 0, "round 1 A: cleanup")
                try verify(request, "round 1 A after its cleanup")
                try link.step()
                // Exit without unmapping.
            }
            var b = try sharer("round 1 B") { device, request, link in
                try verify(request, "round 1 B after A's cleanup")
                try link.step()
                try verify(request, "round 1 B after A exited")
                expectErrno(try device.cleanup(request.id), 0, "round 1 B: cleanup")
                try verify(request, "round 1 B after both cleanups")
            }
            try a.awaitStep()
            try b.awaitStep()
            let twoSharers = before.adding(overlays: 1, shareable: 1, files: 2, ids: 2)
            let oneLeft = before.adding(overlays: 1, shareable: 1, files: 1, ids: 1)
            var stats = try ModuleStats.read()
            expect(stats == twoSharers, "round 1: stats with two sharers \(stats), want \(twoSharers)")
            a.proceed()
            try a.awaitStep()
            stats = try ModuleStats.read()
            expect(stats == before.adding(overlays: 1, shareable: 1, files: 2, ids: 1),
                   "round 1: stats after A's cleanup \(stats), want one id less")
            b.proceed()
            try b.awaitStep()
            a.finish()
            stats = try ModuleStats.await(oneLeft)
            expect(stats == oneLeft, "round 1: stats after A exited \(stats), want \(oneLeft)")
            b.finish()
            stats = try ModuleStats.await(before)
            expect(stats == before, "round 1: stats after both left \(stats), want \(before)")

            // Round 2.
            a = try sharer("round 2 A") { device, request, link in
                let attached = attachedCount(ofOverlay: try request.overlayNumber("round 2 A"), awaiting: 1)
                expect(attached == 1, "round 2 A: attached \(attached.map(String.init) ?? "-") after B was killed, want 1")
                try verify(request, "round 2 A after B was killed")
                expectErrno(try device.cleanup(request.id), 0, "round 2 A: cleanup")
                request.unmap()
            }
            b = try sharer("round 2 B") { _, request, link in
                var generator = freshGenerator()
                _ = request.base.write(filePage: 31, bytes: generator.page())
                try link.step()
            }
            try a.awaitStep()
            try b.awaitStep()
            b.proceed()
            try b.awaitStep()  // B wrote and waits: kill it
            b.kill()
            a.finish()
            stats = try ModuleStats.await(before)
            expect(stats == before, "round 2: stats after both left \(stats), want \(before)")

            // Round 3.
            a = try sharer("round 3 A") { device, request, link in
                request.base.unmap()
                expectErrno(try device.cleanup(request.id), ENOENT, "round 3 A: cleanup after munmap")
                try link.step()
            }
            b = try sharer("round 3 B") { device, request, link in
                try verify(request, "round 3 B after A unmapped")
                // Exit without cleanup or unmapping.
            }
            try a.awaitStep()
            try b.awaitStep()
            a.proceed()
            try a.awaitStep()
            stats = try ModuleStats.await(oneLeft)
            expect(stats == oneLeft, "round 3: stats after A unmapped \(stats), want B's file and id left: \(oneLeft)")
            b.finish()
            a.finish()
            let after = try ModuleStats.await(before)
            expect(after == before, "stats after all rounds: \(after), want \(before)")
        }
    }

    // MARK: Private writes

    /// A and B share; each writes its own pages (and one page both write,
    /// differently); each sees its own writes only, with caches dropped;
    /// a third request sees neither; the files never change.
    static func privateWrites() throws {
        try withDevice { _ in
            let data = try TestData.load()
            func writer(_ label: String, pages: [Int], seed: UInt64) throws -> Peer {
                try Peer.spawn(label) { link in
                    let device = try OverlayDevice.openForScenario()
                    let request = try SharingRequest.seed(device, data, label: label)
                    try link.step()  // both share before anyone writes
                    var view = request.view
                    var generator = SplitMix64(seed: seed)
                    for page in pages {
                        let bytes = (0..<pageSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
                        expect(request.base.write(filePage: page, bytes: bytes) == 0, "\(label): writing page \(page) faulted")
                        view.write(page: page, bytes: bytes, what: "\(label)'s write to page \(page)")
                    }
                    try link.step()  // both wrote
                    try SystemFiles.dropCaches()
                    verifyPages(request.base, view, label: "\(label) after both wrote (caches dropped)")
                    expectErrno(try device.cleanup(request.id), 0, "\(label): cleanup")
                }
            }
            // Pages 5, 50 and 100 are overlay pages, 10 and 200 base pages; both write 50.
            let a = try writer("A", pages: [5, 10, 50], seed: 1)
            defer { a.finish() }
            let b = try writer("B", pages: [50, 100, 200], seed: 2)
            defer { b.finish() }
            try a.awaitStep()
            try b.awaitStep()
            expect(try entry(of: a, "A").overlayNumber == entry(of: b, "B").overlayNumber, "A and B do not share")
            a.proceed()
            b.proceed()
            try a.awaitStep()
            try b.awaitStep()
            try withDevice { device in
                let third = try SharingRequest.seed(device, data, label: "third")
                defer { third.unmap() }
                expect(try third.entry("third").attachedRequests == 3, "the third request does not share A's and B's overlay")
                try SystemFiles.dropCaches()
                verifyPages(third.base, third.view, label: "a third request after A and B wrote (caches dropped)")
                expectErrno(try device.cleanup(third.id), 0, "third: cleanup")
            }
            a.finish()
            b.finish()
            try data.expectFilesUnchanged("after private writes to a shared overlay")
        }
    }

    // MARK: Changed layers

    /// Copies of base.bin and overlay.bin, closed after writing. Two
    /// requests share; then each change makes the next request map a new
    /// overlay that shows the files as they are now, and the request after
    /// it shares that one: a new modification time on the base, a page
    /// written into the layer, the layer truncated. While the layer is
    /// open for writing no request shares (nor is shared); once it is
    /// closed unchanged, the last overlay is shared again.
    static func changedLayers() throws {
        try withDevice { device in
            let data = try TestData.load()
            let baseFile = try NamedLayerFile.copy(of: DataFile.base.name, name: "shared-base")
            defer { baseFile.remove() }
            let layerFile = try NamedLayerFile.copy(of: DataFile.overlay.name, name: "shared-layer")
            defer { layerFile.remove() }
            var requests: [SharingRequest] = []
            defer { for request in requests { request.unmap() } }
            var baseImage = data.base
            var layerImage = data.overlay
            func request(_ label: String) throws -> SharingRequest {
                let made = try SharingRequest(device, base: baseFile.path, baseImage: baseImage, layer: layerFile.path,
                                              layerImage: layerImage, label: label)
                requests.append(made)
                return made
            }
            func verify(_ request: SharingRequest, _ label: String) throws {
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "\(label) (caches dropped)")
            }

            let first = try request("first")
            let second = try request("second")
            var current = try first.overlayNumber("first")
            expect(try second.overlayNumber("second") == current, "two requests over the unchanged copies do not share")
            try verify(second, "second")

            // Each change: the next request maps a new overlay, the one after shares it.
            let changes: [(String, () throws -> Void)] = [
                ("the base's modification time set ahead", { try baseFile.touchModificationTime(secondsAhead: 100) }),
                ("page 40 of the layer written", {
                    try layerFile.write(page: 40, bytes: data.zebra.bytes(ofPage: 40))
                    layerImage = try layerFile.image()
                }),
                ("the layer truncated to 100 pages", {
                    try layerFile.truncate(pages: 100)
                    layerImage = try layerFile.image()
                }),
            ]
            for (what, change) in changes {
                Stopwatch.sleep(seconds: 0.05)  // past the filesystem's timestamp granularity
                try change()
                baseImage = try baseFile.image()
                let changed = try request("after \(what)")
                let number = try changed.overlayNumber(what)
                expect(number != current, "after \(what): the request maps the earlier overlay \(current)")
                try verify(changed, "after \(what)")
                let next = try request("next after \(what)")
                expect(try next.overlayNumber("next") == number, "after \(what): the next request does not share the new overlay \(number)")
                current = number
            }
            expect(layerImage.pageCount == 100, "the truncated layer's image has \(layerImage.pageCount) pages")

            // Open for writing: nobody shares; closed unchanged: shared again.
            let writer = open(layerFile.path, O_RDWR | O_CLOEXEC)
            if writer < 0 { throw SysError("open \(layerFile.path) for writing") }
            let whileOpen = try request("while the layer is open for writing")
            let alsoWhileOpen = try request("again while the layer is open for writing")
            close(writer)
            let numberWhileOpen = try whileOpen.overlayNumber("while open")
            expect(numberWhileOpen != current, "a request while the layer is open for writing shares overlay \(current)")
            expect(try alsoWhileOpen.overlayNumber("again while open") != numberWhileOpen,
                   "a request while the layer is open for writing shares the overlay made while it was open")
            try verify(whileOpen, "while the layer was open for writing")
            let afterClose = try request("after the writer closed")
            expect(try afterClose.overlayNumber("after close") == current,
                   "after the writer closed (no change) the request does not share the last shareable overlay \(current)")
            try verify(afterClose, "after the writer closed")
            for request in requests { expectErrno(try device.cleanup(request.id), 0, "cleanup") }
        }
    }

    // MARK: Different stacks

    /// Requests in one process, each on a new mapping. Against the seed's
    /// request: other segments, swapped layers or another base file map
    /// other overlays, each showing its own view; the same segments in
    /// another order, split and overlapping, and base.bin through a hard
    /// link, map the same one.
    static func differentStacks() throws {
        try withDevice { device in
            let data = try TestData.load()
            let link = ".overlay-tests-\(getpid())-base-link"
            if Glibc.link(DataFile.base.name, link) != 0 { throw SysError("link \(DataFile.base.name) \(link)") }
            defer { unlink(link) }
            let seed = try SharingRequest.seed(device, data, label: "seed")
            let fewer = try SharingRequest(device, baseImage: data.base, layerImage: data.overlay,
                                           segments: Array(seedSegments.dropLast()) + [80...139], label: "one page fewer")
            let swapped = try SharingRequest(device, base: DataFile.overlay.name, baseImage: data.overlay,
                                             layer: DataFile.base.name, layerImage: data.base, label: "layers swapped")
            let otherBase = try SharingRequest(device, base: DataFile.base2.name, baseImage: data.base2,
                                               layerImage: data.overlay, label: "base2.bin")
            let shuffled = [80...100, 101...140, 30...70, 0...0, 21...21, 4...6, 5...5, 20...20]
            let reordered = try SharingRequest(device, baseImage: data.base, layerImage: data.overlay,
                                               segments: shuffled, modelSegments: seedSegments, label: "same table reordered")
            let linked = try SharingRequest(device, base: link, baseImage: data.base, layerImage: data.overlay,
                                            label: "base.bin through a hard link")
            let all = [seed, fewer, swapped, otherBase, reordered, linked]
            defer { for request in all { request.unmap() } }
            let number = try seed.overlayNumber("seed")
            for other in [fewer, swapped, otherBase] {
                expect(try other.overlayNumber(other.layer.name) != number, "\(other.base.name): shares the seed's overlay")
            }
            let otherNumbers = try [fewer, swapped, otherBase].map { try $0.overlayNumber($0.base.name) }
            expect(Set(otherNumbers).count == 3, "the three different stacks share: overlays \(otherNumbers)")
            for same in [reordered, linked] {
                expect(try same.overlayNumber(same.base.name) == number, "\(same.base.name): does not share the seed's overlay")
            }
            let attached = try seed.entry("seed").attachedRequests
            expect(attached == 3, "the seed's overlay attached \(attached), want 3 (seed, reordered, linked)")
            expect(Set(all.map(\.id)).count == all.count, "ids are not distinct")
            try SystemFiles.dropCaches()
            for request in all { verifyPages(request.base, request.view, label: "\(request.base.name) (caches dropped)") }
            for request in all { expectErrno(try device.cleanup(request.id), 0, "cleanup of \(request.base.name)") }
        }
    }

    // MARK: Fork

    /// A and B share. A forks C: C sees the view, cannot clean up A's id,
    /// writes privately. A cleans up and unmaps: the overlay stays attached
    /// twice (C's inherited mapping holds A's request). C reads with caches
    /// dropped, then exits: attached once (B).
    static func forkOfSharer() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let b = try Peer.spawn("B") { link in
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: "B")
                try link.step()
                try SystemFiles.dropCaches()
                verifyPages(request.base, request.view, label: "B after A left and C exited (caches dropped)")
                expectErrno(try device.cleanup(request.id), 0, "B: cleanup")
            }
            defer { b.finish() }
            try b.awaitStep()
            let a = try Peer.spawn("A") { link in
                let device = try OverlayDevice.openForScenario()
                let request = try SharingRequest.seed(device, data, label: "A")
                let c = try Peer.spawn("C (A's child)") { childLink in
                    verifyPages(request.base, request.view, label: "C: inherited mapping")
                    expectErrno(try device.cleanup(request.id), EPERM, "C: cleanup of A's id")
                    var view = request.view
                    var generator = freshGenerator()
                    for page in [5, 200] {
                        let bytes = generator.page()
                        expect(request.base.write(filePage: page, bytes: bytes) == 0, "C: writing page \(page) faulted")
                        view.write(page: page, bytes: bytes, what: "C's write to page \(page)")
                    }
                    try childLink.step()  // A checks, cleans up and unmaps
                    try SystemFiles.dropCaches()
                    verifyPages(request.base, view, label: "C after A cleaned up and unmapped (caches dropped)")
                }
                try c.awaitStep()
                verifyPages(request.base, request.view, label: "A after C's writes")
                expectErrno(try device.cleanup(request.id), 0, "A: cleanup")
                request.unmap()
                try link.step()  // the scenario checks the listing
                c.finish()
                try link.step()
            }
            defer { a.finish() }
            try a.awaitStep()
            let shared = try entry(of: b, "B").overlayNumber
            expect(try LiveOverlay.all().allSatisfy { $0.processID != Int(a.pid) }, "A's cleaned-up id is still listed")
            let whileChildHolds = attachedCount(ofOverlay: shared, awaiting: 2)
            expect(whileChildHolds == 2, "attached \(whileChildHolds.map(String.init) ?? "-") while C holds A's mapping, want 2")
            a.proceed()
            try a.awaitStep()  // C exited
            let afterChild = attachedCount(ofOverlay: shared, awaiting: 1)
            expect(afterChild == 1, "attached \(afterChild.map(String.init) ?? "-") after C exited, want 1")
            a.finish()
            b.finish()
        }
    }
}
