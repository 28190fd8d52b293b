// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Restores that share their lower layers and differ in their own (the
/// README's "Sharing"): many VMs from one template, each with its own diff.
/// The shared layers are held once, in one page cache; each restore's own
/// pages are private copies, made when first touched. These scenarios mix
/// shared and own layers in one run and check what each kind of page does.
enum FleetScenarios {
    static var all: [Scenario] { [
        Scenario("fleet: restores of one base with their own sparse diffs (v1 and v2) hold the base once and their diffs as private copies",
                 ownDiffsShareTheBase),
        Scenario("fleet: chains [base, c1, c2, own diff] share base, c1 and c2 across restores (one lower stack, filled once)",
                 chainsShareTheirLowerLayers),
        Scenario("fleet: copies made by reads are no private writes: a request after cleanup succeeds; a changed page is EBUSY, rewritten same bytes are not",
                 readCopiesAreNoWrites),
        Scenario("fleet: the base and an own diff truncated and hole-punched while mapped: copied own pages stay, the rest follow the files (base pages past the new end: SIGBUS from the base file's page cache, from a lower inode's what it holds)",
                 layersChangeUnderRestores),
        Scenario("fleet: reclaim, compaction and MADV_PAGEOUT of shared and private pages keep every page's contents",
                 reclaimAndMigration),
        Scenario("fleet: fork with own pages copied and not yet copied; parent or child exits first", forkAndExit),
        Scenario("fleet: a chain's lower stack outlives its last restore, unused, with its page cache: the next restore of the chain uses it again and reads only its own diff from the disk; a changed layer's is never used again (the new bytes show); the slab shrink (memory pressure) evicts them; lower_keep_seconds=0 evicts every unused one at once and keeps none",
                 unusedLowerStacksServeTheNextRestore),
        Scenario("fleet: a fault on an own page reads its run in the same I/O, forwards or backwards (at most 2 major faults per 16 pages, not 2 per page); a page read ahead whose layer changed before its fault shows the new bytes",
                 ownRunsReadAtOnce),
    ] }

    /// Each restore's own diff: `runs` runs of 1 to 8 pages at pseudo-random
    /// places of `pages`, none touching another's (`stream` picks them).
    static func ownDiff(_ name: String, pages: Int, runs: Int, stream: UInt32) throws -> SparseLayer {
        var generator = SplitMix64(seed: UInt64(stream))
        var data: [ClosedRange<Int>] = []
        var cursor = Int(generator.next() % 16)
        for _ in 0..<runs {
            let length = 1 + Int(generator.next() % 8)
            guard cursor + length < pages else { break }
            data.append(cursor...(cursor + length - 1))
            cursor += length + 1 + Int(generator.next() % UInt64(max(1, pages / runs)))
        }
        return try SparseLayer.write(name: name, pages: pages, data: data, stream: stream)
    }

    /// The lower stacks alive and shareable, from the module's stats.
    /// The page cache grew by at least half the base for the first of
    /// several restores that each read every page, and by less than an
    /// eighth of it for each later one: what they share is cached once.
    static func expectCachedOnce(_ growth: [Int], basePages: Int, what: String) {
        let baseKiB = basePages * pageSize / 1024
        Log.note("page cache growth as each \(what) read every page: \(growth.map { "\($0) KiB" }) (the base is \(baseKiB) KiB)")
        expect(growth[0] >= baseKiB / 2, "the first \(what) grew the page cache by \(growth[0]) KiB only: the measurement is broken")
        for index in 1..<growth.count {
            expect(growth[index] < baseKiB / 8,
                   "\(what) \(index + 1) grew the page cache by \(growth[index]) KiB (the first by \(growth[0]) KiB): what they share is cached again")
        }
    }

    /// The module's lower stacks, from its stats: those alive, those
    /// requests may share, and those of them kept unused for the next
    /// restore of their chain (which a sweep may evict at any time).
    struct LowerStacks: CustomStringConvertible {
        var alive: Int
        var shareable: Int
        var unused: Int
        /// Those some overlay or request uses.
        var inUse: Int { alive - unused }
        var shareableInUse: Int { shareable - unused }
        var description: String { "alive \(alive), shareable \(shareable), unused \(unused)" }
    }

    static func lowerStacks() throws -> LowerStacks {
        let text = SystemFiles.read(ModuleStats.path) ?? ""
        var alive: Int?
        var shareable: Int?
        var unused: Int?
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=")
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            if parts[0] == "lowers" { alive = value }
            if parts[0] == "shareable_lowers" { shareable = value }
            if parts[0] == "unused_lowers" { unused = value }
        }
        guard let alive, let shareable, let unused else {
            throw TestFailure("\(ModuleStats.path) reads '\(text)': no lowers=, shareable_lowers= or unused_lowers=")
        }
        return LowerStacks(alive: alive, shareable: shareable, unused: unused)
    }

    /// The calling process's private (anonymous) memory, in KiB.
    static func anonymousKiB() -> Int {
        let text = SystemFiles.read("/proc/self/smaps_rollup") ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("Anonymous:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
        }
        return -1
    }

    // MARK: Shared base, own diffs

    /// Four processes restore base.bin, each with its own sparse diff (two by
    /// v1 with the diff's pages as segments, two by v2 by data extents), read
    /// every page, caches dropped first: the base's pages come into the page
    /// cache once; each process's private memory grows by its diff's pages;
    /// the module holds one lower stack and four overlays.
    static func ownDiffsShareTheBase() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let pages = data.base.pageCount
            var diffs: [SparseLayer] = []
            defer { diffs.forEach { $0.close() } }
            for index in 0..<4 {
                diffs.append(try ownDiff("fleet-diff-\(index)", pages: pages, runs: 12, stream: 900 + UInt32(index)))
            }
            let before = try ModuleStats.read()
            let lowersBefore = try lowerStacks()
            try SystemFiles.dropCaches()
            var peers: [Peer] = []
            defer { for peer in peers { peer.finish() } }
            var growth: [Int] = []
            for (index, diff) in diffs.enumerated() {
                let label = "restore \(index + 1)"
                let cached = try pageCacheKiB()
                let peer = try Peer.spawn(label) { link in
                    let device = try OverlayDevice.openForScenario()
                    let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                    let id: OverlayID
                    if index % 2 == 0 {
                        let mapped = try MappedFile.map(fd: diff.fd, name: diff.name)
                        id = try device.overlay(RawCreateRequest(base: base.address, overlay: mapped.address,
                                                                 segments: diff.data), "\(label): v1 request")
                    } else {
                        id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]),
                                              "\(label): v2 request")
                    }
                    let view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
                    let anonymous = anonymousKiB()
                    base.touch(base.filePages)
                    let copiesKiB = anonymousKiB() - anonymous
                    let ownKiB = diff.dataPages.pages.count * pageSize / 1024
                    expect(copiesKiB >= ownKiB && copiesKiB <= ownKiB + 256,
                           "\(label): private memory grew by \(copiesKiB) KiB reading every page, want its diff's \(ownKiB) KiB")
                    try link.step()
                    try SystemFiles.dropCaches()
                    verifyPages(base, view, label: "\(label) (caches dropped)")
                    expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
                }
                peers.append(peer)
                try peer.awaitStep()
                growth.append(try pageCacheKiB() - cached)
            }
            expectCachedOnce(growth, basePages: pages, what: "restore")
            let stats = try ModuleStats.read()
            let lowers = try lowerStacks()
            // Lower 0: the base file's own page cache (not where its page
            // cache may hold large folios: then a lower inode of single pages).
            let baseFileServes = try LiveOverlay.all().contains { $0.lowerNumber == 0 }
            expect(stats.overlays == before.overlays + 4, "overlays \(stats.overlays), want \(before.overlays + 4) (one per diff)")
            expect(lowers.inUse == lowersBefore.inUse + 1, "lower stacks in use \(lowers.inUse), want \(lowersBefore.inUse + 1) (the base, once)")
            for peer in peers { peer.finish() }
            peers = []
            let after = try ModuleStats.await(before)
            expect(after == before, "stats after every restore left: \(after), want \(before)")
            let lowersAfter = try lowerStacks()
            expect(lowersAfter.inUse == lowersBefore.inUse, "lower stacks left behind: \(lowersAfter), before \(lowersBefore)")
            // The base file's own page cache stays anyway: nothing kept for
            // it; a lower inode of the base is kept like any composed one.
            expect(lowersAfter.unused <= lowersBefore.unused + (baseFileServes ? 0 : 1),
                   "lower stacks \(lowersAfter), before \(lowersBefore): more kept unused than the restores' one lower inode \(baseFileServes ? "(none: the base file's page cache served them)" : "")")
        }
    }

    /// Three processes restore [base, c1, c2, d_i] in one v2 request each
    /// (c1 and c2 shared, d_i its own) and read every page: one lower stack
    /// for all, filled once (the later restores barely grow the page
    /// cache); then each chain's pages are checked, caches dropped.
    static func chainsShareTheirLowerLayers() throws {
        try withDevice { _ in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let c1 = try SparseLayer.write(name: "fleet-c1", pages: pages, data: [0...99, 300...399], stream: 910)
            defer { c1.close() }
            let c2 = try SparseLayer.write(name: "fleet-c2", pages: pages, data: [50...149, 600...620], stream: 911)
            defer { c2.close() }
            var diffs: [SparseLayer] = []
            defer { diffs.forEach { $0.close() } }
            for index in 0..<3 {
                diffs.append(try ownDiff("fleet-chain-diff-\(index)", pages: pages, runs: 10, stream: 920 + UInt32(index)))
            }
            let lowersBefore = try lowerStacks()
            try SystemFiles.dropCaches()
            var peers: [Peer] = []
            defer { for peer in peers { peer.finish() } }
            var growth: [Int] = []
            for (index, diff) in diffs.enumerated() {
                let label = "chain restore \(index + 1)"
                let cached = try pageCacheKiB()
                let peer = try Peer.spawn(label) { link in
                    let device = try OverlayDevice.openForScenario()
                    let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                    let id = try device.stack(RawStackRequest(baseAddress: base.address,
                                                              layers: [c1.raw(), c2.raw(), diff.raw()]), label)
                    let view = ExpectedView(base: data.base).overlaid(c1.image, c1.data).overlaid(c2.image, c2.data)
                        .overlaid(diff.image, diff.data)
                    // Only the mapping is read before the scenario looks at
                    // the page cache: checking pages reads the layer files too.
                    base.touch(base.filePages)
                    try link.step()
                    try SystemFiles.dropCaches()
                    verifyPages(base, view, label: "\(label) (caches dropped)")
                    expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
                }
                peers.append(peer)
                try peer.awaitStep()
                growth.append(try pageCacheKiB() - cached)
            }
            expectCachedOnce(growth, basePages: pages, what: "chain")
            let lowers = try lowerStacks()
            expect(lowers.inUse == lowersBefore.inUse + 1 && lowers.shareableInUse == lowersBefore.shareableInUse + 1,
                   "lower stacks \(lowers) (before: \(lowersBefore)), want one more in use, shareable (base, c1 and c2 for all three)")
            for peer in peers { peer.finish() }
            peers = []
        }
    }

    // MARK: Private pages and new requests

    /// A mapping whose own pages were read holds private copies of them:
    /// they are no writes, and a request after cleanup succeeds. A write that
    /// changed a page (an own one, or one of the base) makes the next
    /// request EBUSY, nothing changed; a write of the bytes the page already
    /// held loses nothing, and the request succeeds.
    static func readCopiesAreNoWrites() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (base, overlay, data) = (fixture.base, fixture.overlay, fixture.data)
            var view = fixture.baseView
            func request(_ segments: [ClosedRange<Int>], _ what: String) throws -> OverlayID {
                let id = try device.overlay(RawCreateRequest(base: base.address, overlay: overlay.address, segments: segments), what)
                view.overlay(data.overlay, segments)
                return id
            }
            let first = try request([0...9, 40...49], "first request")
            verifyPages(base, view, label: "first request (every page read)")
            expectErrno(try device.cleanup(first), 0, "cleanup of the first request")
            // Rewrite own page 5 and base page 20 with the bytes they show.
            for page in [5, 20] {
                let bytes = [UInt8](UnsafeRawBufferPointer(start: base.pointer(toFilePage: page), count: pageSize))
                expect(base.write(filePage: page, bytes: bytes) == 0, "rewrite page \(page) with its own bytes")
            }
            let second = try request([60...69], "request after reads and same-bytes writes")
            verifyPages(base, view, label: "second request")
            expectErrno(try device.cleanup(second), 0, "cleanup of the second request")
            for (page, what) in [(7, "an own page"), (30, "a base page"), (65, "the second request's own page")] {
                var bytes = [UInt8](repeating: 0x5A, count: pageSize)
                bytes[0] = UInt8(page)
                expect(base.write(filePage: page, bytes: bytes) == 0, "write \(what)")
                view.write(page: page, bytes: bytes, what: "private write to \(what)")
                expectErrno(device.createErrno(RawCreateRequest(base: base.address, overlay: overlay.address,
                                                                segments: [100...110])), EBUSY,
                            "a request after a write to \(what)")
                verifyPages(base, view, label: "after the refused request (\(what) written)")
            }
        }
    }

    // MARK: Layers that change

    /// A restore of a writable copy of base.bin with its own diff, half of
    /// the diff's pages read (copied). Then the diff gets a hole over two of
    /// its runs (one read, one not) and the base is cut to half its length.
    /// Copied own pages keep their data; the own pages not yet read show
    /// the hole's zeros; base pages before the new end are unchanged. Past
    /// it, where the base file's own page cache serves the base, every
    /// access is SIGBUS, read before or not (the truncation empties it
    /// there); where a lower inode serves it (a base whose page cache takes
    /// large folios, under own pages), a page shows what that page cache
    /// holds (the base's old data, read ahead before the truncation) or,
    /// once filled after it, SIGBUS: never anything else (abi.md, "Layers
    /// that change while mapped").
    static func layersChangeUnderRestores() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let baseCopy = try ScratchFile.copy(of: DataFile.base.name, bytes: data.base.size, name: "fleet-base")
            defer { baseCopy.close() }
            let diff = try ownDiff("fleet-changing-diff", pages: pages, runs: 20, stream: 930)
            defer { diff.close() }
            let writableDiff = open("/proc/self/fd/\(diff.fd)", O_RDWR | O_CLOEXEC)
            try require(writableDiff >= 0, "reopen the diff for writing: \(Errno.current)")
            defer { close(writableDiff) }
            let base = try MappedFile.map(fd: baseCopy.fd, name: "copy of base.bin", protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]), "restore")
            let ownPages = diff.dataPages.pages
            let read = Array(ownPages.prefix(ownPages.count / 2))
            let notRead = Array(ownPages.suffix(from: ownPages.count / 2))
            var before: [Int: [UInt8]] = [:]
            for page in read { before[page] = try pageBytes(diff.image, page) }
            base.touch(read)
            let ownSet = Set(ownPages)
            base.touch((0..<(pages / 2)).filter { !ownSet.contains($0) })
            // A hole over one read own page and one not read; the base cut in half.
            let punched = [read[0], notRead[0]]
            for page in punched {
                try require(batch_syscalls_fallocate(writableDiff, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(page * pageSize), off_t(pageSize)) == 0,
                            "punch a hole at diff page \(page): \(Errno.current)")
            }
            try require(ftruncate(baseCopy.fd, off_t(pages / 2 * pageSize)) == 0, "truncate the base: \(Errno.current)")
            let zeros = [UInt8](repeating: 0, count: pageSize)
            for page in read {
                expect(base.readBytes(filePage: page) == before[page], "read own page \(page) keeps its data")
            }
            expect(base.readBytes(filePage: notRead[0]) == zeros, "own page \(notRead[0]), not read before, shows the hole")
            for page in notRead.dropFirst() where page < pages {
                expect(try base.readBytes(filePage: page) == pageBytes(diff.image, page), "own page \(page) not read before")
            }
            for page in stride(from: 0, to: pages / 2, by: 7) where !ownSet.contains(page) {
                expect(base.readBytes(filePage: page) == data.base.bytes(ofPage: page), "base page \(page) before the new end")
            }
            let fromBaseFile = try LoadingSetScenarios.servedFromBaseFile(id)
            if !fromBaseFile { Log.note("the base is served from a lower inode (its page cache takes large folios)") }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
            defer { buffer.deallocate() }
            for page in [pages / 2, pages / 2 + 1, pages - 1] where !ownSet.contains(page) {
                let signal = base.read(filePage: page, into: buffer)
                if fromBaseFile {
                    expect(signal == SIGBUS, "base page \(page) past the base's new end: SIGBUS")
                } else {
                    let old = signal == 0 && Array(UnsafeRawBufferPointer(start: buffer, count: pageSize)) == data.base.bytes(ofPage: page)
                    expect(signal == SIGBUS || old,
                           "base page \(page) past the base's new end: SIGBUS or the old data, got signal \(signal)")
                }
            }
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    // MARK: Reclaim, migration

    /// A restore with its own diff in a cgroup, every page read: the cgroup's
    /// reclaim, compaction and MADV_PAGEOUT of the whole mapping run, then
    /// every page shows what it showed (the base's pages read back from the
    /// disk where reclaim dropped them, the private copies kept or restored).
    static func reclaimAndMigration() throws {
        try withDevice { device in
            let data = try TestData.load()
            let diff = try ownDiff("fleet-reclaimed-diff", pages: data.base.pageCount, runs: 30, stream: 940)
            defer { diff.close() }
            let group = try Cgroup.create("overlay-tests-fleet-\(getpid())", memoryMax: "max")
            defer { group.remove() }
            let child = ChildProcess.spawn("restore in a cgroup") {
                try group.join()
                // The base's pages are then read in the group, and charged to it.
                try SystemFiles.dropCaches()
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]), "restore")
                let view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
                verifyPages(base, view, label: "every page read")
                // memory.reclaim says EAGAIN when it reclaimed less than asked:
                // ask for more than the group holds, then look at what it did.
                let fileBefore = group.stat("file")
                _ = try? SystemFiles.write(group.path + "/memory.reclaim", "256M")
                let fileAfter = group.stat("file")
                expect(fileAfter < fileBefore / 2,
                       "memory.reclaim left \(fileAfter) of the group's \(fileBefore) bytes of page cache")
                verifyPages(base, view, label: "after memory.reclaim")
                if SystemFiles.exists("/proc/sys/vm/compact_memory") {
                    try SystemFiles.write("/proc/sys/vm/compact_memory", "1")
                    verifyPages(base, view, label: "after compaction")
                }
                let advised = madvise(base.address, base.length, 21)  // MADV_PAGEOUT
                expect(advised == 0, "MADV_PAGEOUT: \(Errno.current)")
                verifyPages(base, view, label: "after MADV_PAGEOUT")
                expectErrno(try device.cleanup(id), 0, "cleanup")
            }
            child.expectSuccess("restore in a cgroup", timeout: 600)
        }
    }

    // MARK: Fork

    /// A parent reads half its own pages and forks: the child sees every
    /// page (those its parent copied, and the rest, which it copies itself),
    /// whichever of the two exits first.
    static func forkAndExit() throws {
        try withDevice { device in
            try ChildProcess.becomeSubreaper()
            let data = try TestData.load()
            let diff = try ownDiff("fleet-forked-diff", pages: data.base.pageCount, runs: 16, stream: 950)
            defer { diff.close() }
            for parentLeavesFirst in [true, false] {
                let label = parentLeavesFirst ? "parent leaves first" : "child leaves first"
                let parent = ChildProcess.spawn("parent (\(label))") {
                    let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                    let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]), label)
                    let view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
                    let own = diff.dataPages.pages
                    base.touch(own.prefix(own.count / 2))
                    let parentPid = getpid()
                    let child = ChildProcess.spawn("child (\(label))") {
                        if parentLeavesFirst {
                            let deadline = Stopwatch.nowSeconds() + 60
                            while getppid() == parentPid && Stopwatch.nowSeconds() < deadline { Stopwatch.sleep(seconds: 0.01) }
                        }
                        verifyPages(base, view, label: "child (\(label))")
                    }
                    if !parentLeavesFirst {
                        child.expectSuccess("child (\(label))", timeout: 120)
                        verifyPages(base, view, label: "parent after its child left")
                    }
                    expectErrno(try device.cleanup(id), 0, "parent's cleanup")
                }
                parent.expectSuccess("parent (\(label))", timeout: 240)
                if parentLeavesFirst {
                    guard let (_, status) = ChildProcess.reap(nil, timeout: 120) else {
                        throw TestFailure("the child did not finish within 120 s after its parent left")
                    }
                    expect(status.succeeded, "child (\(label)): \(status)")
                }
            }
        }
    }
}

/// Page `page` of `image`, read now.
func pageBytes(_ image: FileImage, _ page: Int) throws -> [UInt8] {
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    defer { scratch.deallocate() }
    return Array(UnsafeRawBufferPointer(start: try image.page(page, scratch: scratch), count: pageSize))
}

extension MappedFile {
    /// The bytes file page `filePage` shows (empty when reading it failed).
    func readBytes(filePage: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: pageSize)
        let status = bytes.withUnsafeMutableBytes { read(filePage: filePage, into: $0.baseAddress!) }
        return status == 0 ? bytes : []
    }
}

extension PageSet {
    /// The pages, in order.
    var pages: [Int] { ranges.flatMap { Array($0) } }
}

