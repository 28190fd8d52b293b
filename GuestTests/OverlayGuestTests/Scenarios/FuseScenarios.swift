// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// A layer file on FUSE, served by the test's own FUSE server, which
/// invalidates it (FUSE_NOTIFY_INVAL_INODE runs invalidate_inode_pages2 on
/// the file's page cache: where the seed module panicked) while the overlay
/// is mapped and read.
enum FuseScenarios {
    static var all: [Scenario] { [
        Scenario("fuse: FUSE file as the overlay layer: cold read, then inval_inode/inval_entry while a thread reads") {
            try layerOnFuse(.overlay)
        },
        Scenario("fuse: FUSE file as the base layer: cold read, then inval_inode/inval_entry while a thread reads") {
            try layerOnFuse(.base)
        },
        Scenario("fuse: the FUSE overlay layer changes and is invalidated while mapped (read pages keep their data, uncached pages show the new data)",
                 changingLayer),
    ] }

    enum Role: CustomStringConvertible {
        case overlay, base

        var description: String { self == .overlay ? "overlay" : "base" }
    }

    static let invalidationRounds = 6

    /// base.bin or overlay.bin served by FUSE (the same data as the file on
    /// the test disk) and the other layer on the test disk; fragmented
    /// segments over all pages.
    /// 1. Cold: caches dropped after the request, the overlaid mapping read
    ///    before anything reads the FUSE file.
    /// 2. Rounds of: caches dropped; FUSE_NOTIFY_INVAL_INODE (whole file)
    ///    every 2 ms until the server has answered two cold passes' worth of
    ///    reads, then FUSE_NOTIFY_INVAL_ENTRY; the FUSE file read through a
    ///    plain mapping of its own (whose pages the next invalidation must
    ///    unmap, through the FUSE file's reverse map). Meanwhile one thread
    ///    reads the overlaid mapping, and another makes fresh overlays of the
    ///    same files and reads them: their page cache starts empty, so their
    ///    pages are read from the layers, through FUSE, during the
    ///    invalidations. (Dropping caches does not empty an overlay's page
    ///    cache: the module's inodes are not on their superblock's inode
    ///    list, which drop_caches walks, and the pseudo filesystem ignores
    ///    fadvise.)
    /// The data never changes, so every read must show exactly the view.
    static func layerOnFuse(_ role: Role) throws {
        try withDevice { device in
            let data = try TestData.load()
            let fuseName = role == .overlay ? DataFile.overlay.name : DataFile.base.name
            let fuseImage = try FileImage.load(fuseName, name: "FUSE \(fuseName) (\(fuseName)'s data)")
            let server = try FuseServer.start([FuseFile(fuseName, fuseImage)])
            defer {
                server.stop()
                Log.note("FUSE requests: \(server.requestSummary)")
            }
            try checkServed(server)
            let fusePath = server.path(fuseName)
            let (basePath, baseName) = role == .base ? (fusePath, "FUSE base.bin") : (DataFile.base.name, DataFile.base.name)
            let (overlayPath, overlayName) = role == .overlay ? (fusePath, "FUSE overlay.bin") : (DataFile.overlay.name, DataFile.overlay.name)
            // Kept open: the base file is mapped again for each fresh overlay.
            let baseFile = open(basePath, O_RDONLY | O_CLOEXEC)
            if baseFile < 0 { throw SysError("open \(basePath)") }
            defer { close(baseFile) }
            let base = try MappedFile.map(fd: baseFile, name: baseName)
            defer { base.unmap() }
            let overlay = try MappedFile.map(overlayPath, name: overlayName)
            defer { overlay.unmap() }
            let plain = try MappedFile.map(fusePath, name: "plain mapping of FUSE \(fuseName)")
            defer { plain.unmap() }
            let segments = fragmentedSegments(pages: base.pageCount, seed: 1)
            let view = role == .overlay ? ExpectedView(base: data.base).overlaid(fuseImage, segments)
                                        : ExpectedView(base: fuseImage).overlaid(data.overlay, segments)
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            try SystemFiles.dropCaches()
            let readsBefore = server.requests(FUSE_READ)
            verifyPages(base, view, label: "cold, first touch (\(role) layer on FUSE, \(segments.count) segments)")
            let coldReads = server.requests(FUSE_READ) - readsBefore
            expect(coldReads > 0, "the cold pass sent no FUSE_READ: the overlay did not read its FUSE layer through the server")

            let stop = StopFlag()
            let passes = Locked(0)
            let freshOverlays = Locked(0)
            let notifications = Locked(0)
            let readsBeforeRounds = server.requests(FUSE_READ)
            let pageCount = base.pageCount
            try ThreadGroup.run(3) { member in
                switch member.index {
                case 0:
                    let order = MultithreadScenarios.walk(count: pageCount, thread: 1)
                    repeat {
                        if !verifyPages(base, view, label: "reader of the overlaid mapping during the invalidations", order: order) { break }
                        passes.withLock { $0 += 1 }
                    } while !stop.isSet
                case 1:
                    repeat {
                        do {
                            let fresh = try MappedFile.map(fd: baseFile, name: "\(baseName), mapped again")
                            defer { fresh.unmap() }
                            let freshID = try device.overlay(base: fresh, overlay: overlay, segments: segments)
                            let number = freshOverlays.withLock { $0 += 1; return $0 }
                            if !verifyPages(fresh, view, label: "fresh overlay \(number) during the invalidations") { break }
                            expectErrno(try device.cleanup(freshID), 0, "cleanup of fresh overlay \(number)")
                        } catch {
                            Log.fail("fresh overlays: \(error)")
                            break
                        }
                    } while !stop.isSet
                default:
                    defer { stop.set() }
                    for round in 1...invalidationRounds {
                        do {
                            try SystemFiles.dropCaches()
                            let sent = try invalidate(fuseName, of: server, round: round, whileReading: 2 * max(1, coldReads))
                            notifications.withLock { $0 += sent }
                            verifyPages(plain, ExpectedView(base: fuseImage), label: "round \(round): the FUSE file's plain mapping")
                        } catch {
                            Log.fail("round \(round): \(error)")
                            return
                        }
                    }
                }
            }
            Log.note("\(invalidationRounds) invalidation rounds: \(notifications.withLock { $0 }) FUSE_NOTIFY_INVAL_INODE, "
                     + "\(server.requests(FUSE_READ) - readsBeforeRounds) FUSE_READ requests; \(passes.withLock { $0 }) passes over "
                     + "the overlaid mapping, \(freshOverlays.withLock { $0 }) fresh overlays read")
            verifyPages(base, view, label: "the overlaid mapping after the invalidations")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// What a page of the overlaid mapping showed when first read.
    enum Seen: UInt8 {
        case unread = 0, old = 1, new = 2
    }

    /// overlay.bin on FUSE serves overlay.bin's data (generation 0), then
    /// base2.bin's (generation 1); base.bin on the test disk; fragmented
    /// segments. The overlaid mapping is mlocked on fault.
    ///
    /// What is well-defined, and asserted:
    /// - Pages read through the mapping before the change show generation 0,
    ///   and keep showing it after any number of invalidations: they are
    ///   pages of the overlay's own page cache (a separate inode, which no
    ///   FUSE notification touches), mapped by this mapping and mlocked, so
    ///   neither reclaim nor the invalidation of the FUSE file's page cache
    ///   can take them away. (Without the mlock, reclaim could drop one and
    ///   a later fault would read generation 1: only "old or new" would hold.)
    /// - For the same reason, any page keeps what it showed the first time
    ///   it was read, whenever that was.
    /// - A page that is not in the overlay's page cache (mincore) once the
    ///   first FUSE_NOTIFY_INVAL_INODE after the change has returned shows
    ///   generation 1 when read: the kernel adds an overlay folio to the
    ///   page cache before the module reads the layer for it, and the FUSE
    ///   file's page cache then holds only what the server returned after
    ///   the change (folios it read before are locked until filled, and the
    ///   invalidation waits for them and drops them).
    /// - Every other page shows generation 0 or 1: it may have entered the
    ///   overlay's page cache (readahead, fault-around) before or after the
    ///   change, and, not being mapped, may even have been reclaimed and
    ///   read again.
    /// - The FUSE file's own mapping shows generation 1 after the
    ///   invalidation (kernel FUSE behaviour: the check that the notification
    ///   did invalidate).
    static func changingLayer() throws {
        // The check needs layer pages the first reads leave uncached: the
        // overlay's readahead window is twice its largest layer's, and 7.3
        // gives the test disk 8 MiB of readahead (6.1 and 6.12: 128 KiB),
        // which reads the whole FUSE file at the first touch.
        try withTestDiskReadahead(kib: 128) { try changingLayerBody() }
    }

    static func changingLayerBody() throws {
        try withDevice { device in
            let data = try TestData.load()
            let old = try FileImage.load(DataFile.overlay.name, name: "FUSE overlay.bin generation 0 (overlay.bin's data)")
            let new = try FileImage.load(DataFile.base2.name, name: "FUSE overlay.bin generation 1 (base2.bin's data)")
            try require(old.size == new.size, "overlay.bin and base2.bin differ in size")
            let fuseName = DataFile.overlay.name
            let server = try FuseServer.start([FuseFile(fuseName, old, new)])
            defer {
                server.stop()
                Log.note("FUSE requests: \(server.requestSummary)")
            }
            try checkServed(server)
            let base = try MappedFile.map(DataFile.base.name)
            defer { base.unmap() }
            let fuse = try MappedFile.map(server.path(fuseName), name: "FUSE overlay.bin")
            defer { fuse.unmap() }
            let count = base.pageCount
            let segments = fragmentedSegments(pages: count, seed: 2)
            let fusePages = PageSet(segments)
            // Each view also knows the other generation, to name it in a report.
            let oldView = ExpectedView(base: data.base).overlaid(old, segments).overlaid(new, [])
            let newView = ExpectedView(base: data.base).overlaid(new, segments).overlaid(old, [])
            let id = try device.overlay(base: base, overlay: fuse, segments: segments)
            // After the request, which replaced the mapping.
            try require(batch_syscalls_mlock_on_fault(base.address, base.length) == 0, "mlock2(MLOCK_ONFAULT): \(Errno.current)")
            try SystemFiles.dropCaches()

            // Before the change: the first half.
            let half = count / 2
            let readerEnd = count * 3 / 4
            let observed = Locked([Seen](repeating: .unread, count: count))
            let before = PageVerifier("before the change", view: oldView)
            for page in 0..<half where before.check(base, filePage: page) {
                observed.withLock { $0[page] = .old }
            }
            try require(before.finish(), "wrong data before the change")
            let readsBeforeChange = server.requests(FUSE_READ)

            // The change, while a thread reads the first three quarters
            // (the last quarter stays unread, so that the overlay's page
            // cache does not hold all of it).
            let stop = StopFlag()
            let residentAfterChange = Locked<[Bool]?>(nil)
            let readerPasses = Locked(0)
            try ThreadGroup.run(2) { member in
                if member.index == 0 {
                    let report = LimitedReport("reader")
                    let checker = GenerationCheck(old: oldView, new: newView, label: "reader during the invalidations")
                    let order = MultithreadScenarios.walk(count: readerEnd, thread: 1)
                    repeat {
                        for page in order {
                            guard let seen = checker.read(base, filePage: page) else { continue }
                            if page < half && seen != .old {
                                report.fail("file page \(page), read before the change, now shows generation 1")
                            }
                            let first = observed.withLock { observations in
                                if observations[page] == .unread { observations[page] = seen }
                                return observations[page]
                            }
                            if first != seen {
                                report.fail("file page \(page) showed generation \(first == .old ? 0 : 1) and now shows \(seen == .old ? 0 : 1)")
                            }
                        }
                        readerPasses.withLock { $0 += 1 }
                    } while !stop.isSet && report.failures == 0
                    checker.finish()
                    report.finish()
                    return
                }
                defer { stop.set() }
                server.setGeneration(1, of: fuseName)
                for round in 1...invalidationRounds {
                    do {
                        try invalidate(fuseName, of: server, round: round)
                        if round == 1 {
                            residentAfterChange.withLock { $0 = residentPages(base) }
                            verifyPages(fuse, ExpectedView(base: new), label: "the FUSE file's own mapping after the first invalidation")
                        }
                        Stopwatch.sleep(seconds: 0.02)
                    } catch {
                        Log.fail("round \(round): \(error)")
                        return
                    }
                }
            }
            verifyPages(fuse, ExpectedView(base: new), label: "the FUSE file's own mapping after the invalidations")

            // After: every page, in order; the unread ones read now.
            guard let resident = residentAfterChange.withLock({ $0 }) else {
                throw TestFailure("no mincore snapshot of the overlay's page cache")
            }
            let seenFirst = observed.withLock { $0 }
            let kept = PageVerifier("pages read before the change, after the invalidations (must keep generation 0)", view: oldView)
            let keptOld = PageVerifier("pages first read with generation 0, after the invalidations (must keep it)", view: oldView)
            let keptNew = PageVerifier("pages first read with generation 1, after the invalidations (must keep it)", view: newView)
            let fresh = PageVerifier("pages not in the overlay's page cache after the first invalidation (must show generation 1)",
                                     view: newView)
            let either = GenerationCheck(old: oldView, new: newView, label: "pages read after the invalidations")
            let contradictions = LimitedReport("reader")
            var mustBeNew = 0
            var shows = [Seen: Int]()
            for page in 0..<count {
                if page < half {
                    kept.check(base, filePage: page)
                } else if seenFirst[page] == .old {
                    keptOld.check(base, filePage: page)
                } else if seenFirst[page] == .new {
                    keptNew.check(base, filePage: page)
                } else if fusePages.contains(page) && !resident[page] {
                    mustBeNew += 1
                    fresh.check(base, filePage: page)
                } else if let seen = either.read(base, filePage: page), fusePages.contains(page) {
                    shows[seen, default: 0] += 1
                }
                // A page the reader saw and that was not resident then is
                // one it first read after the invalidation: generation 1.
                if fusePages.contains(page) && !resident[page] && seenFirst[page] == .old {
                    contradictions.fail("file page \(page) was not in the overlay's page cache after the first invalidation, "
                                        + "yet showed generation 0")
                }
            }
            for verifier in [kept, keptOld, keptNew, fresh] { verifier.finish() }
            either.finish()
            contradictions.finish()
            let readerSaw = (half..<readerEnd).filter { fusePages.contains($0) }.map { seenFirst[$0] }
            Log.note("\(readerPasses.withLock { $0 }) reader passes; "
                     + "\(server.requests(FUSE_READ) - readsBeforeChange) FUSE_READ requests after the first half was read")
            Log.note("layer pages the reader first saw (of \(half)..<\(readerEnd)): \(readerSaw.filter { $0 == .old }.count) generation 0, "
                     + "\(readerSaw.filter { $0 == .new }.count) generation 1, \(readerSaw.filter { $0 == .unread }.count) unread")
            Log.note("layer pages not cached after the first invalidation (generation 1 required): \(mustBeNew); "
                     + "others first read at the end: \(shows[.old, default: 0]) generation 0, \(shows[.new, default: 0]) generation 1")
            expect(mustBeNew > 0, "every layer page was in the overlay's page cache after the first invalidation: "
                   + "nothing checked that uncached pages show the new data")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// Segments of 1 to 12 pages with gaps of 1 to 9 pages over `pages`
    /// pages: neighbouring pages often come from different layers.
    static func fragmentedSegments(pages: Int, seed: UInt64) -> [ClosedRange<Int>] {
        var generator = SplitMix64(seed: seed)
        var segments: [ClosedRange<Int>] = []
        var page = Int.random(in: 0...3, using: &generator)
        while page < pages {
            let run = Int.random(in: 1...12, using: &generator)
            segments.append(page...min(page + run - 1, pages - 1))
            page += run + Int.random(in: 1...9, using: &generator)
        }
        return segments
    }

    /// The filesystem answers: statvfs (FUSE_STATFS, after FUSE_INIT), then
    /// stat (FUSE_LOOKUP) and access (FUSE_ACCESS) of each file.
    static func checkServed(_ server: FuseServer) throws {
        var filesystem = statvfs()
        if statvfs(server.mountPoint, &filesystem) != 0 { throw SysError("statvfs \(server.mountPoint)") }
        for file in server.files {
            let path = server.path(file.name)
            var info = stat()
            if stat(path, &info) != 0 { throw SysError("stat \(path)") }
            try require(Int(info.st_size) == file.generations[0].size && info.st_mode & S_IFMT == S_IFREG,
                        "stat \(path): mode 0o\(String(info.st_mode, radix: 8)), \(info.st_size) bytes")
            expect(access(path, R_OK) == 0, "access(\(path), R_OK): \(Errno.current)")
        }
    }

    /// One round of notifications for `name`: FUSE_NOTIFY_INVAL_INODE for
    /// its whole page cache and attributes, repeated every 2 ms until the
    /// server has received `reads` more FUSE_READ requests (at most a
    /// second); then FUSE_NOTIFY_INVAL_ENTRY
    /// for its name, looked up first so that there is a dentry to drop (the
    /// kernel answers ENOENT when none is cached, and the previous round
    /// dropped it). Returns the FUSE_NOTIFY_INVAL_INODE notifications sent.
    @discardableResult
    static func invalidate(_ name: String, of server: FuseServer, round: Int, whileReading reads: Int = 0) throws -> Int {
        var info = stat()
        if stat(server.path(name), &info) != 0 { throw SysError("stat \(server.path(name))") }
        let target = server.requests(FUSE_READ) + reads
        let deadline = Stopwatch.nowSeconds() + 1
        var sent = 0
        repeat {
            if sent > 0 { Stopwatch.sleep(seconds: 0.002) }
            sent += 1
            if !expectErrno(server.invalidateInode(name), 0, "round \(round): FUSE_NOTIFY_INVAL_INODE \(sent) for \(name)") { break }
        } while server.requests(FUSE_READ) < target && Stopwatch.nowSeconds() < deadline
        expectErrno(server.invalidateEntry(name), 0, "round \(round): FUSE_NOTIFY_INVAL_ENTRY for \(name)")
        return sent
    }

    /// Which pages of the file `mapping` maps are in its page cache (mincore).
    static func residentPages(_ mapping: MappedFile) -> [Bool]? {
        var vector = [UInt8](repeating: 0, count: mapping.pageCount)
        if mincore(mapping.address, mapping.length, &vector) != 0 {
            Log.fail("mincore: \(Errno.current)")
            return nil
        }
        return vector.map { $0 & 1 != 0 }
    }
}

/// Reads pages that may show either of two views (the old or the new data
/// of a layer) and tells which; a page that shows neither is reported, as
/// a `PageVerifier` reports it, against the old view. One per thread.
private final class GenerationCheck {
    let old: ExpectedView
    let new: ExpectedView
    private let report: PageVerifier
    private let content = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    private let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)

    init(old: ExpectedView, new: ExpectedView, label: String) {
        self.old = old
        self.new = new
        report = PageVerifier(label + " (neither generation 0 nor 1)", view: old)
    }

    deinit {
        content.deallocate()
        scratch.deallocate()
    }

    /// Reads file page `page` of `mapping`: .old or .new (.old where both
    /// views agree), or nil (reported) if it shows neither or faults.
    func read(_ mapping: MappedFile, filePage page: Int) -> FuseScenarios.Seen? {
        let signal = mapping.read(filePage: page, into: content)
        if signal == 0 {
            if shows(old, page) { return .old }
            if shows(new, page) { return .new }
        }
        report.check(filePage: page, content: content, signal: signal, address: mapping.pointer(toFilePage: page))
        return nil
    }

    private func shows(_ view: ExpectedView, _ page: Int) -> Bool {
        guard case .filePage(let image, let filePage) = view.expectation(forFilePage: page),
              let expected = try? image.page(filePage, scratch: scratch) else { return false }
        return memcmp(content, expected, pageSize) == 0
    }

    @discardableResult
    func finish() -> Bool { report.finish() }
}

/// Failure lines of a loop that may repeat them: the first few, then a count.
private final class LimitedReport {
    let label: String
    private(set) var failures = 0

    init(_ label: String) { self.label = label }

    func fail(_ message: String) {
        failures += 1
        if failures <= 8 { Log.fail("\(label): \(message)") }
    }

    func finish() {
        if failures > 8 { Log.fail("\(label): \(failures - 8) more failures") }
    }
}
