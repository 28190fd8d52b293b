// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Loading sets (ABI v2, version 2): a request names the pages its restore
/// will touch first; the module reads them ahead from whichever layer
/// serves each, without the request waiting, and with
/// `MEM_OVERLAY_STACK_POPULATE` maps them before it returns. These
/// scenarios make the requests raw; the file format and the tool's
/// `--loading-set` are LoadingSetFileScenarios'.
enum LoadingSetScenarios {
    static var all: [Scenario] { [
        Scenario("loading set: its pages are read ahead from the layer serving each (the base file's page cache, a composed lower stack's, an own diff's), no other page; the view is right",
                 readAheadFromEachLayer),
        Scenario("loading set with populate: its pages are mapped when the request returns (no fault on them), base pages read-only from the shared page cache, own pages as private copies; a write still copies",
                 populateMapsWithoutCopies),
        Scenario("loading set: pages past the mapping's end, in holes of every layer, overlapping and unsorted ranges, every page; into another process by pidfd with populate",
                 oddLoadingSets),
        Scenario("loading set: populate without a set (EINVAL), a reversed range (EINVAL), too many ranges (E2BIG), an unreadable set (EFAULT), nothing changed",
                 refusals),
        Scenario("loading set: its read-ahead races four threads' faults, an immediate cleanup, a fork and an munmap; every page right, nothing left behind",
                 prefetchRaces),
    ] }

    /// A v2 request over `base` laying `layers`, with a loading set.
    static func request(_ base: MappedFile, _ layers: [RawLayer], loadingSet: [ClosedRange<Int>],
                        populate: Bool = false) -> RawStackRequest {
        var request = RawStackRequest(baseAddress: base.address, layers: layers)
        request.loadingSet = .array(RawSegments(ranges: loadingSet))
        if populate { request.flags |= RawStackRequest.populateFlag }
        return request
    }

    /// Waits (at most 10 s) until `wanted` pages of `mapping` are in the
    /// page cache it maps; the pages cached then.
    static func awaitCached(_ mapping: MappedFile, _ wanted: Set<Int>) throws -> Set<Int> {
        let deadline = Stopwatch.nowSeconds() + 10
        while true {
            let cached = try PageResidency.cached(mapping)
            if cached.isSuperset(of: wanted) || Stopwatch.nowSeconds() > deadline { return cached }
            Stopwatch.sleep(seconds: 0.02)
        }
    }

    static func pages(_ ranges: [ClosedRange<Int>]) -> Set<Int> { Set(ranges.flatMap { Array($0) }) }

    /// Whether the listing says request `id`'s layers beneath are served
    /// from the base file's own page cache (`lower=0`). Not where own pages
    /// lie above a base whose page cache holds large folios (ext4 since
    /// 6.16): a lower inode of single pages serves it then.
    static func servedFromBaseFile(_ id: OverlayID) throws -> Bool {
        guard let entry = try LiveOverlay.all().first(where: { $0.id == id }), let lower = entry.lowerNumber else {
            throw TestFailure("the listing has no lower= for \(id)")
        }
        return lower == 0
    }

    // MARK: Read-ahead

    /// Caches dropped, a request with a loading set of pages 0-511: over
    /// base.bin with an own diff (the lower stack is the base file alone:
    /// its page cache), and [base, c1, own diff] (a composed lower stack).
    /// The set's pages come into the page cache that serves each without a
    /// touch; pages past the set stay out (a little read-around allowed).
    static func readAheadFromEachLayer() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pageCount = data.base.pageCount
            let set = [0...511]
            let diff = try SparseLayer.write(name: "ls-own-diff", pages: pageCount, data: [10...19, 300...309, 600...609],
                                             stream: 1100)
            defer { diff.close() }
            let c1 = try SparseLayer.write(name: "ls-c1", pages: pageCount, data: [0...299, 700...899], stream: 1101)
            defer { c1.close() }
            let plainDiff = try MappedFile.map(fd: diff.fd, name: diff.name)
            defer { plainDiff.unmap() }
            let plainBase = try MappedFile.map(DataFile.base.name, name: "base.bin (plain, for mincore)")
            defer { plainBase.unmap() }
            let ownInSet = pages(diff.data).intersection(pages(set))

            // The base file's own page cache beneath.
            do {
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                try SystemFiles.dropCaches()
                let id = try device.stack(request(base, [diff.raw()], loadingSet: set), "request over base.bin")
                let baseWanted = pages(set).subtracting(ownInSet)
                // The overlaid mapping maps the page cache that serves the
                // base: base.bin's own, or a lower inode's (then say so).
                let fromBaseFile = try servedFromBaseFile(id)
                if !fromBaseFile { Log.note("base.bin served from a lower inode (its page cache takes large folios)") }
                let cachedBase = try awaitCached(fromBaseFile ? plainBase : base, baseWanted)
                let cachedDiff = try awaitCached(plainDiff, ownInSet)
                expect(cachedBase.isSuperset(of: baseWanted),
                       "base.bin: \(baseWanted.subtracting(cachedBase).count) of the set's \(baseWanted.count) base pages not read ahead")
                expect(cachedDiff.isSuperset(of: ownInSet),
                       "own diff: \(ownInSet.subtracting(cachedDiff).count) of the set's \(ownInSet.count) own pages not read ahead")
                let beyond = cachedBase.subtracting(pages(set))
                expect(beyond.count <= 64, "base.bin: \(beyond.count) pages past the set read ahead too")
                Log.note("base.bin lower: \(cachedBase.count) base pages and \(cachedDiff.count) own-diff pages cached, none touched")
                verifyPages(base, ExpectedView(base: data.base).overlaid(diff.image, diff.data), label: "view over base.bin")
                expectErrno(try device.cleanup(id), 0, "cleanup")
            }

            // A composed lower stack beneath: its inode's page cache.
            do {
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                try SystemFiles.dropCaches()
                let id = try device.stack(request(base, [c1.raw(), diff.raw()], loadingSet: set), "request over [base, c1]")
                // The overlaid mapping maps the lower page cache: mincore of it.
                let lowerWanted = pages(set).subtracting(ownInSet)
                let cachedLower = try awaitCached(base, lowerWanted)
                expect(cachedLower.isSuperset(of: lowerWanted),
                       "[base, c1]: \(lowerWanted.subtracting(cachedLower).count) of the set's \(lowerWanted.count) lower pages not read ahead")
                let beyond = cachedLower.subtracting(pages(set))
                expect(beyond.count <= 64, "[base, c1]: \(beyond.count) pages past the set read ahead too")
                let view = ExpectedView(base: data.base).overlaid(c1.image, c1.data).overlaid(diff.image, diff.data)
                verifyPages(base, view, label: "view over [base, c1]")
                expectErrno(try device.cleanup(id), 0, "cleanup")
            }
        }
    }

    // MARK: Populate

    /// Populate of pages 100-299 over base.bin with an own diff: when the
    /// request returns, every page of the set is mapped (pagemap), touching
    /// them takes no minor fault, the base pages are the base file's page
    /// cache frames (a plain mapping of base.bin maps the same frames: no
    /// copy), the own pages private copies; a write to a populated base page
    /// copies it and leaves the file and the plain mapping as they were.
    static func populateMapsWithoutCopies() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pageCount = data.base.pageCount
            let set = [100...299]
            let diff = try SparseLayer.write(name: "ls-populate-diff", pages: pageCount, data: [150...159, 250...251],
                                             stream: 1110)
            defer { diff.close() }
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let plain = try MappedFile.map(DataFile.base.name, name: "base.bin (plain)")
            defer { plain.unmap() }
            try SystemFiles.dropCaches()
            let id = try device.stack(request(base, [diff.raw()], loadingSet: set, populate: true), "request with populate")
            let own = pages(diff.data)
            let entries = try PageResidency.entries(of: base.pointer(toFilePage: 100), pages: 200)
            let missing = entries.indices.filter { !entries[$0].present }.map { 100 + $0 }
            expect(missing.isEmpty, "\(missing.count) pages of the set not mapped when the request returned (first \(missing.prefix(4)))")

            let faults = PageResidency.minorFaults()
            var sum: UInt64 = 0
            for page in 100..<300 { sum &+= base.pointer(toFilePage: page).load(as: UInt64.self) }
            let touchFaults = PageResidency.minorFaults() - faults
            expect(touchFaults <= 4, "touching the 200 populated pages took \(touchFaults) minor faults (checksum \(sum))")

            // Base pages are page cache pages, own pages anonymous copies.
            let anonymousBase = entries.indices.filter { entries[$0].present && !own.contains(100 + $0) && !entries[$0].isFileOrShared }
            let fileOwn = entries.indices.filter { entries[$0].present && own.contains(100 + $0) && entries[$0].isFileOrShared }
            expect(anonymousBase.isEmpty, "populate mapped base pages \(anonymousBase.prefix(4).map { 100 + $0 }) as private copies")
            expect(fileOwn.isEmpty, "populate mapped own pages \(fileOwn.prefix(4).map { 100 + $0 }) from a page cache, not as copies")

            // Frames: served from the base file, base pages are its page
            // cache's (a plain mapping maps the same), own pages are not.
            if try servedFromBaseFile(id) {
                plain.touch(100..<300)
                let plainEntries = try PageResidency.entries(of: plain.pointer(toFilePage: 100), pages: 200)
                var copiedBase: [Int] = []
                var sharedOwn: [Int] = []
                for index in 0..<200 where entries[index].present && plainEntries[index].present {
                    let page = 100 + index
                    let same = entries[index].frame == plainEntries[index].frame
                    if own.contains(page) { if same { sharedOwn.append(page) } } else if !same { copiedBase.append(page) }
                }
                expect(copiedBase.isEmpty, "populate copied base pages \(copiedBase.prefix(4)) (\(copiedBase.count)): they must be the page cache's")
                expect(sharedOwn.isEmpty, "own pages \(sharedOwn.prefix(4)) map the base file's frame")
            } else {
                Log.note("base.bin served from a lower inode (its page cache takes large folios): frames not compared with a plain mapping")
            }

            var view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
            let note = [UInt8](repeating: 0x5C, count: pageSize)
            expect(base.write(filePage: 120, bytes: note) == 0, "write a populated page")
            view.write(page: 120, bytes: note, what: "the write after populate")
            verifyPages(base, view, label: "view after a write to a populated page")
            verifyPages(plain, ExpectedView(base: data.base), label: "plain mapping of base.bin after the write")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    // MARK: Odd sets

    static func oddLoadingSets() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pageCount = data.base.pageCount
            let diff = try SparseLayer.write(name: "ls-odd-diff", pages: pageCount, data: [0...3, 500...503], stream: 1120)
            defer { diff.close() }
            let view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
            let sets: [(String, [ClosedRange<Int>])] = [
                ("pages past the mapping's end", [pageCount - 4...pageCount + 100, 1_000_000...1_000_010]),
                ("pages in holes of the diff (the base serves them)", [700...799]),
                ("overlapping, unsorted ranges", [600...700, 0...10, 650...660, 5...500]),
                ("every page", [0...pageCount - 1]),
            ]
            for (label, set) in sets {
                for populate in [false, true] {
                    let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                    defer { base.unmap() }
                    try SystemFiles.dropCaches()
                    let what = "\(label)\(populate ? ", populated" : "")"
                    let id = try device.stack(request(base, [diff.raw()], loadingSet: set, populate: populate), what)
                    verifyPages(base, view, label: what)
                    expectErrno(try device.cleanup(id), 0, "cleanup (\(what))")
                }
            }

            // Into another process, with populate: its pages are mapped in it.
            let base = try RemoteScenarios.baseForTarget()
            let target = try Peer.spawn("target") { link in
                try link.step()
                let entries = try PageResidency.entries(of: base.pointer(toFilePage: 200), pages: 100)
                let missing = entries.filter { !$0.present }.count
                expect(missing == 0, "target: \(missing) of the 100 populated pages not mapped")
                verifyPages(base, view, label: "target after a populated restore by pidfd")
            }
            defer { target.finish() }
            base.unmap()
            try target.awaitStep()
            let process = try TargetProcess(processID: target.pid)
            var remote = RawStackRequest.remote(pidfd: process.pidfd.rawValue, base: base.address, layers: [diff.raw()])
            remote.loadingSet = .array(RawSegments(ranges: [200...299]))
            remote.flags |= RawStackRequest.populateFlag
            let id = try device.stack(remote, "populated request by pidfd")
            expectErrno(try device.cleanup(id), 0, "cleanup of the remote request")
            target.finish()
        }
    }

    // MARK: Refusals

    static func refusals() throws {
        try withDevice { device in
            let fixture = try StackRequestScenarios.Fixture()
            defer { fixture.close() }
            var populateAlone = fixture.goodRequest
            populateAlone.flags = RawStackRequest.populateFlag
            StackRequestScenarios.expectRejected(device, populateAlone, EINVAL, "populate without a loading set")
            var reversed = fixture.goodRequest
            reversed.loadingSet = .array(RawSegments(pairs: [(start: 0, end: 10), (start: 20, end: 19)]))
            StackRequestScenarios.expectRejected(device, reversed, EINVAL, "a loading set range ending before it starts")
            var tooMany = fixture.goodRequest
            tooMany.loadingSet = .address(UnsafeRawPointer(bitPattern: 0x1000), count: UInt64(SegmentList.maximumCount) + 1)
            StackRequestScenarios.expectRejected(device, tooMany, E2BIG, "more loading set ranges than a segment list may have")
            var unreadable = fixture.goodRequest
            unreadable.loadingSet = .address(UnsafeRawPointer(bitPattern: 0x1000), count: 3)
            StackRequestScenarios.expectRejected(device, unreadable, EFAULT, "a loading set at an unmapped address")
            var nullSet = fixture.goodRequest
            nullSet.loadingSet = .address(nil, count: 1)
            StackRequestScenarios.expectRejected(device, nullSet, EFAULT, "a loading set at NULL")
            StackRequestScenarios.expectUnchangedAndUsable(device, fixture, "after refused loading sets")
        }
    }

    // MARK: Races

    /// A composed lower stack over the 64 MiB XL files, a loading set of
    /// every page, caches dropped: as the request returns (its read-ahead
    /// in flight), four threads fault pages in their own orders, the id is
    /// cleaned up at once, a child forked then checks its view, and the
    /// mapping is unmapped while reads may still be going on. Every page
    /// checked is right, and the module's objects return to where they were.
    static func prefetchRaces() throws {
        try withDevice { device in
            let stats = try ModuleStats.read()
            let baseImage = try FileImage.load(DataFile.baseXL.name)
            let overlayImage = try FileImage.load(DataFile.overlayXL.name)
            let pageCount = baseImage.pageCount
            let segments = stride(from: 0, to: pageCount, by: 20).map { $0...($0 + 9) }
            let overlayFD = open(DataFile.overlayXL.name, O_RDONLY | O_CLOEXEC)
            if overlayFD < 0 { throw SysError("open \(DataFile.overlayXL.name)") }
            defer { close(overlayFD) }
            let view = ExpectedView(base: baseImage).overlaid(overlayImage, segments)
            for round in 0..<3 {
                let base = try MappedFile.map(DataFile.baseXL.name, protection: PROT_READ | PROT_WRITE)
                try SystemFiles.dropCaches()
                // Shared: the layer serves half the pages, so the lower stack is [base, overlay].
                let layer = RawLayer(fileDescriptor: overlayFD, flags: RawLayer.sharedFlag, segments: RawSegments(ranges: segments))
                let id = try device.stack(request(base, [layer], loadingSet: [0...pageCount - 1]), "round \(round): request")
                expectErrno(try device.cleanup(id), 0, "round \(round): cleanup as the read-ahead runs")
                let child = ChildProcess.spawn("round \(round): child") {
                    verifyPages(base, view, label: "round \(round): child forked during the read-ahead",
                                order: MultithreadScenarios.walk(count: pageCount, thread: 7))
                }
                try ThreadGroup.run(4) { member in
                    let order = MultithreadScenarios.walk(count: pageCount, thread: member.index)
                    verifyPages(base, view, label: "round \(round): thread \(member.index)", order: Array(order.prefix(pageCount / 4)))
                }
                child.expectSuccess("round \(round): child")
                base.unmap()
            }
            let after = try ModuleStats.await(stats, timeout: 30)
            expect(after == stats, "module stats \(after) after the rounds, want \(stats) as before")
        }
    }
}
