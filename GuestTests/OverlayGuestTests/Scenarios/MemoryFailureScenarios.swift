// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Memory failure on the pages of overlays (issue 16 item 4, issue 20):
/// what a host does when a DIMM reports a bad page under a VM's memory.
/// Four processes hold every kind of page a restore maps at once:
///
/// - restores A and B of base.bin, each with its own sparse diff (a fleet:
///   the base's pages are shared, from one page cache), A with a page
///   written privately;
/// - C and D, the same v1 request of overlay.bin over base.bin with half of
///   the pages as segments (its top layer then counts as shared: the
///   module's own page cache serves the composed view to both), each with a
///   page written privately.
///
/// The kernel's rule (mm/memory-failure.c, hwpoison_user_mappings; see
/// `MemoryFailure.leavesPoisonEntries`): a clean page of a page cache that
/// can write back (ext4's) is dropped from every page table and from the
/// cache, and the next access reads it again; an anonymous page, or a small
/// page of a page cache without writeback (the module's pseudo
/// filesystem), leaves a poison entry in every page table that mapped it,
/// and an access there raises SIGBUS. A page of a large page-cache folio
/// (the module's composed views hold them) is unmapped everywhere by the
/// folio's split, and so dropped too. Each process reads the frame's flags
/// and which page cache holds it before the hit, and the scenario checks
/// the rule page by page: poison entry and SIGBUS, or unmapped and the
/// right data again.
enum MemoryFailureScenarios {
    static var all: [Scenario] { [
        Scenario("memory failure: MADV_HWPOISON on a base page two fleet restores share, an overlay page two processes map, an own copy and a written page: SIGBUS exactly where the kernel leaves a poison entry, on that page only; every other page of all four views right; cleanup and exit clean",
                 { try offline(MemoryFailure.hardOffline) }),
        Scenario("memory failure: MADV_SOFT_OFFLINE on the same four kinds of page keeps every page's contents in every process that maps it",
                 { try offline(MemoryFailure.softOffline) }),
    ] }

    /// The kinds of page a restore maps, and which page of each is hit.
    enum Kind: String {
        case sharedBase = "base page shared by the fleet restores"
        case ownCopy = "own diff page (a private copy)"
        case written = "privately written page"
        case overlay = "overlay page of the shared composed view"
    }

    struct Target {
        let kind: Kind
        let page: Int
    }

    /// One process of the scenario: the pages it hits and the pages it
    /// watches (those it maps that a hit may reach: its own and the shared ones).
    struct Role {
        let label: String
        let fleetDiff: SparseLayer?
        let writtenPage: Int
        let hits: [Target]
        let watches: [Target]
    }

    static func offline(_ advice: Int32) throws {
        try withDevice { _ in
            try MemoryFailure.requireConfigured()
            try MemoryFailure.withLateKill { try offlineEveryKind(advice) }
        }
    }

    static func offlineEveryKind(_ advice: Int32) throws {
        let hard = advice == MemoryFailure.hardOffline
        let data = try TestData.load()
        let pages = data.base.pageCount
        let stream: UInt32 = hard ? 1200 : 1210
        let diffA = try FleetScenarios.ownDiff("mf-diff-a", pages: pages, runs: 12, stream: stream)
        defer { diffA.close() }
        let diffB = try FleetScenarios.ownDiff("mf-diff-b", pages: pages, runs: 12, stream: stream + 1)
        defer { diffB.close() }
        let own = Set(diffA.dataPages.pages + diffB.dataPages.pages)
        let baseOnly = (pages / 2..<pages).filter { !own.contains($0) }
        let sharedBase = Target(kind: .sharedBase, page: baseOnly[0])
        let writtenA = Target(kind: .written, page: baseOnly[1])
        let ownA = Target(kind: .ownCopy, page: diffA.dataPages.pages[0])
        // Runs of 8: overlay.bin at 0-7, 16-23, ...; base.bin at 8-15, ...
        let segments = SeedSegments.zebra(pages: pages, run: 8, overlayFirst: true).ranges
        let overlayPage = Target(kind: .overlay, page: 16 * 10 + 3)
        let roles = [
            Role(label: "restore A", fleetDiff: diffA, writtenPage: writtenA.page, hits: [sharedBase, ownA, writtenA],
                 watches: [sharedBase, ownA, writtenA]),
            Role(label: "restore B", fleetDiff: diffB, writtenPage: baseOnly[2], hits: [], watches: [sharedBase]),
            Role(label: "overlay C", fleetDiff: nil, writtenPage: 16 * 10 + 9, hits: [overlayPage], watches: [overlayPage]),
            Role(label: "overlay D", fleetDiff: nil, writtenPage: 16 * 11 + 9, hits: [], watches: [overlayPage]),
        ]
        let before = try ModuleStats.read()
        // Clean pages: dropping the caches writes back everything first, so
        // the base file's pages are clean when they are hit.
        try SystemFiles.dropCaches()
        var peers: [Peer] = []
        defer { for peer in peers { peer.finish(timeout: 300) } }
        for role in roles {
            let peer = try Peer.spawn(role.label) { link in
                try play(role, advice: advice, data: data, segments: segments, link: link)
            }
            peers.append(peer)
            try peer.awaitStep()
        }
        // The hitters hit, then everyone looks.
        for (peer, role) in zip(peers, roles) where !role.hits.isEmpty {
            peer.proceed()
            try peer.awaitStep()
        }
        for (peer, role) in zip(peers, roles) where role.hits.isEmpty {
            peer.proceed()
            try peer.awaitStep()
        }
        for peer in peers { peer.finish(timeout: 300) }
        peers = []
        let after = try ModuleStats.await(before)
        expect(after == before, "stats after every process left: \(after), want \(before)")
        Log.note(hard ? "poisoned 4 frames (never freed)" : "soft-offlined up to 4 frames")
    }

    /// A peer's part: request, read every page and write one; hit its
    /// targets; then look at every page it watches and check all the others.
    static func play(_ role: Role, advice: Int32, data: TestData, segments: [ClosedRange<Int>], link: PeerLink) throws {
        let hard = advice == MemoryFailure.hardOffline
        let device = try OverlayDevice.openForScenario()
        let base = try MappedFile.map(DataFile.base.name, name: "\(role.label): base.bin", protection: PROT_READ | PROT_WRITE)
        let id: OverlayID
        var view: ExpectedView
        if let diff = role.fleetDiff {
            id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]), "\(role.label): v2 request")
            view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
        } else {
            let overlay = try MappedFile.map(DataFile.overlay.name, name: "\(role.label): overlay.bin")
            id = try device.overlay(RawCreateRequest(base: base.address, overlay: overlay.address, segments: segments),
                                    "\(role.label): v1 request")
            overlay.unmap()
            view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
        }
        let fromBaseFile = try LoadingSetScenarios.servedFromBaseFile(id)
        verifyPages(base, view, label: "\(role.label): first reads")
        var bytes = [UInt8](repeating: 0xC3, count: pageSize)
        bytes[0] = UInt8(truncatingIfNeeded: role.writtenPage)
        try require(base.write(filePage: role.writtenPage, bytes: bytes) == 0, "\(role.label): write page \(role.writtenPage)")
        view.write(page: role.writtenPage, bytes: bytes, what: "\(role.label)'s write")
        // The frames before any process hits one (root reads them in pagemap).
        var frames: [Int: UInt64] = [:]
        var flags: [Int: MemoryFailure.FrameFlags] = [:]
        var writesBack: [Int: Bool] = [:]
        for target in role.watches {
            let entry = try MemoryFailure.entry(base, filePage: target.page)
            try require(entry.present, "\(role.label): \(target.kind.rawValue) \(target.page) is not mapped before the hit")
            frames[target.page] = entry.frame
            flags[target.page] = try MemoryFailure.flags(frame: entry.frame)
            // A page of a layer file's own page cache (ext4), or else of
            // the module's (no writeback) or an anonymous one.
            var layerFile: String? = nil
            for path in [DataFile.base.name, DataFile.overlay.name]
            where try MemoryFailure.isInPageCache(of: path, filePage: target.page, frame: entry.frame) {
                layerFile = path
            }
            writesBack[target.page] = layerFile != nil
            Log.note("\(role.label): \(target.kind.rawValue) \(target.page): frame \(entry.frame) (\(flags[target.page]!)), "
                     + "in \(layerFile.map { "\($0)'s own page cache" } ?? (flags[target.page]!.anonymous ? "no page cache" : "the module's page cache"))")
        }
        if let sharedBase = role.watches.first(where: { $0.kind == .sharedBase }) {
            expect(writesBack[sharedBase.page] == fromBaseFile,
                   "\(role.label): the listing says the base is served from \(fromBaseFile ? "base.bin's" : "a lower inode's") page cache, the frames disagree")
        }
        /// Whether MADV_HWPOISON leaves poison entries for `target`.
        func poisons(_ target: Target) -> Bool {
            MemoryFailure.leavesPoisonEntries(flags[target.page]!, pageCacheWritesBack: writesBack[target.page]!)
        }
        try link.step()

        for target in role.hits {
            let what = "\(role.label): \(hard ? "MADV_HWPOISON" : "MADV_SOFT_OFFLINE") on the \(target.kind.rawValue) \(target.page)"
            Log.note("\(what): frame \(frames[target.page]!) flags before: \(try MemoryFailure.flags(frame: frames[target.page]!))")
            let ending = MemoryFailure.adviseInChild(base, filePage: target.page, advice)
            let poisoned = try MemoryFailure.isPoisoned(frame: frames[target.page]!)
            let now = try MemoryFailure.entry(base, filePage: target.page)
            Log.note("\(what) (by a child): \(ending); this process's entry now: present \(now.present) swap \(now.swapped); frame \(frames[target.page]!) \(poisoned ? "is" : "is not") marked poisoned")
            switch ending {
            case .exited(0):
                expect(poisoned, "\(what): its frame is not marked poisoned")
            case .exited(let code) where !hard:
                // Soft offline may fail on a page it cannot move: the page stays.
                expect([EBUSY, EIO].contains(code), "\(what): \(Errno.describe(code)), want success, EBUSY or EIO")
            case .killed(SIGBUS) where hard && poisons(target):
                // The kernel signals the injecting process when the page it
                // poisoned was dirty; a clean page of the base file it drops.
                expect(poisoned, "\(what): the injecting child was killed, yet the frame is not marked poisoned")
            default:
                Log.fail("\(what): the injecting child ended with \(ending)")
            }
        }
        try link.step()

        var poisonedPages: Set<Int> = []
        for target in role.watches {
            let label = "\(role.label): \(target.kind.rawValue) \(target.page)"
            let entry = try MemoryFailure.entry(base, filePage: target.page)
            let expected = try bytesShown(view, target.page)
            let access = MemoryFailure.accessInChild(base, filePage: target.page, expected: expected)
            let state = (entry.present ? "mapped at frame \(entry.frame)" : entry.swapped ? "a swap entry" : "unmapped")
                + " (frame \(frames[target.page]!) before)"
            Log.note("\(label): page table entry \(state); an access: \(access)")
            guard hard else {
                expect(access == .matched, "\(label) after the soft offline: an access shows \(access)")
                continue
            }
            // The kernel's rule, from the frame's flags before the hit and
            // the page cache it was in (the base file's, on ext4, writes back).
            if !poisons(target) {
                expect(!entry.present || entry.frame != frames[target.page],
                       "\(label): the poisoned frame is still mapped (the reverse map missed this page table)")
                expect(access == .matched, "\(label): dropped (frame flags before: \(flags[target.page]!)), an access shows \(access), want the data read again")
            } else {
                poisonedPages.insert(target.page)
                expect(!entry.present && entry.swapped, "\(label): page table entry \(state), want a poison entry (frame flags before: \(flags[target.page]!))")
                expect(access == .killed(SIGBUS), "\(label): an access ends \(access), want SIGBUS")
            }
        }
        let others = Array(base.filePages).filter { !poisonedPages.contains($0) }
        verifyPages(base, view, label: "\(role.label): every other page after the hits", order: others)
        expectErrno(try device.cleanup(id), 0, "\(role.label): cleanup")
        verifyPages(base, view, label: "\(role.label): every other page after the cleanup", order: others)
        base.unmap()
    }

    /// The bytes `view` shows at file page `page`.
    static func bytesShown(_ view: ExpectedView, _ page: Int) throws -> [UInt8] {
        switch view.expectation(forFilePage: page) {
        case .filePage(let image, let filePage): return try pageBytes(image, filePage)
        case .written(let bytes, _): return bytes
        case .sigbus(let why): throw TestFailure("page \(page) shows no data: \(why)")
        }
    }
}
