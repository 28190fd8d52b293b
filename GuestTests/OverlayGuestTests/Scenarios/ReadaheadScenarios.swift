// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// What a first touch of a restore reads, and the advice that changes it. A
/// restore must read as a plain mapping of its files does: MADV_RANDOM reads
/// the faulting page alone, MADV_SEQUENTIAL reads ahead of it, the window
/// follows the layer disk's read_ahead_kb, and MADV_WILLNEED (fadvise)
/// starts reading pages from the layers that serve them.
///
/// Each scenario runs over a fleet restore (an own diff over the base: the
/// base file's own page cache beneath, or on 7.x a lower inode of single
/// pages) and a chain (a shared layer and an own diff: a lower inode that
/// composes base and shared layer), on the test disk with caches dropped.
/// What was read is what `mincore` of the mapping reports cached.
enum ReadaheadScenarios {
    static var all: [Scenario] { [
        Scenario("readahead: MADV_RANDOM on a restore reads each faulting page alone (shared pages: exactly the pages touched; own pages: one read each), MADV_SEQUENTIAL reads ahead of the fault and not behind it, MADV_NORMAL reads around it and reads own runs at once; caches dropped",
                 accessPatternAdvice),
        Scenario("readahead: a restore's read-around follows the layer disk's read_ahead_kb (32 KiB, then 512 KiB: at least 4 times as much read)",
                 windowFollowsReadAheadKB),
        Scenario("readahead: MADV_WILLNEED on a restore reads its pages from the layers that serve them (none from beneath an own page; no major fault after), fadvise WILLNEED and DONTNEED on the reopened overlay fill and drop its page cache, unknown advice is EINVAL",
                 willNeedReadsAhead),
    ] }

    /// The two kinds of restore (see the type's comment).
    enum Kind: String, CaseIterable {
        case fleet
        case chain
    }

    /// A restore of base.bin, mapped read-write and private, with its view.
    struct Restore {
        let kind: Kind
        let mapping: MappedFile
        let view: ExpectedView
        /// The pages its own diff serves.
        let ownPages: Set<Int>
        /// The own diff's descriptor (read-only, as the request got it).
        let ownLayer: Int32

        /// The pages of `range` whose lower page-cache page is cached (or
        /// that are mapped), leaving out own pages.
        func cachedLower(in range: Range<Int>) throws -> Set<Int> {
            try PageResidency.cached(mapping).filter { range.contains($0) && !ownPages.contains($0) }
        }
    }

    /// The own diff's two runs of 16 pages, and the chain's shared layer's run.
    static let ownRuns = [20...35, 600...615]
    static let sharedRun = 100...163

    /// Makes a restore of `kind` (its layer files opened now, so that their
    /// readahead windows are the disk's current ones), runs `body`, checks
    /// every page and cleans up.
    static func withRestore(_ kind: Kind, _ body: (Restore) throws -> Void) throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            try require(pages >= 1024, "base.bin has \(pages) pages; the scenario needs 1024")
            let diff = try SparseLayer.write(name: "readahead-own-\(kind)", pages: pages, data: ownRuns, stream: 1400)
            defer { diff.close() }
            let shared = try SparseLayer.write(name: "readahead-shared", pages: pages, data: [sharedRun], stream: 1401)
            defer { shared.close() }
            let mapping = try MappedFile.map(DataFile.base.name, name: "\(kind) restore", protection: PROT_READ | PROT_WRITE)
            defer { mapping.unmap() }
            var view = ExpectedView(base: data.base)
            let layers: [RawLayer]
            switch kind {
            case .fleet:
                layers = [diff.raw()]
            case .chain:
                layers = [shared.raw(), diff.raw()]
                view = view.overlaid(shared.image, shared.data)
            }
            view = view.overlaid(diff.image, diff.data)
            let id = try device.stack(RawStackRequest(baseAddress: mapping.address, layers: layers), "\(kind) restore")
            try SystemFiles.dropCaches()
            try body(Restore(kind: kind, mapping: mapping, view: view, ownPages: Set(ownRuns.flatMap { $0 }),
                                 ownLayer: diff.fd))
            verifyPages(mapping, view, label: "\(kind) restore after the advice")
            expectErrno(try device.cleanup(id), 0, "\(kind) restore: cleanup")
        }
    }

    /// madvise(`advice`) over the whole restore.
    static func advise(_ restore: Restore, _ advice: Int32, _ name: String) throws {
        try require(madvise(restore.mapping.address, restore.mapping.length, advice) == 0,
                    "madvise(\(name)) on the \(restore.kind) restore: \(Errno.current)")
    }

    /// Major faults taken while touching `pages` one by one, in order.
    static func majorFaults(touching pages: some Sequence<Int>, of restore: Restore) -> Int {
        let before = PageResidency.majorFaults()
        restore.mapping.touch(pages)
        return PageResidency.majorFaults() - before
    }

    static func accessPatternAdvice() throws {
        // A window of 32 pages, whatever the kernel's default for the disk.
        try withTestDiskReadahead(kib: 128) {
            for kind in Kind.allCases {
                try withRestore(kind) { restore in
                    // MADV_RANDOM: a fault reads its page and nothing else.
                    try advise(restore, MADV_RANDOM, "MADV_RANDOM")
                    let randomRange = 200..<500
                    let randomPages = Array(stride(from: 200, to: 500, by: 64))
                    restore.mapping.touch(randomPages)
                    let randomCached = try restore.cachedLower(in: randomRange)
                    expect(randomCached == Set(randomPages),
                           "\(kind), MADV_RANDOM: touching pages \(randomPages) cached \(randomCached.sorted()), want exactly those")
                    // Own pages: one read per page, not the run at once.
                    let ownRandomMajors = majorFaults(touching: ownRuns[0], of: restore)
                    expect(ownRandomMajors >= ownRuns[0].count,
                           "\(kind), MADV_RANDOM: reading own pages \(ownRuns[0]) took \(ownRandomMajors) major faults, want one read per page (at least \(ownRuns[0].count))")

                    // MADV_SEQUENTIAL: the read starts at the fault and goes on.
                    try advise(restore, MADV_SEQUENTIAL, "MADV_SEQUENTIAL")
                    let sequentialPage = 520
                    restore.mapping.touch([sequentialPage])
                    let behind = try restore.cachedLower(in: 500..<sequentialPage)
                    let ahead = try restore.cachedLower(in: (sequentialPage + 1)..<(sequentialPage + 32))
                    expect(behind.isEmpty, "\(kind), MADV_SEQUENTIAL: a fault at page \(sequentialPage) read pages behind it: \(behind.sorted())")
                    expect(ahead.count >= 16,
                           "\(kind), MADV_SEQUENTIAL: a fault at page \(sequentialPage) read \(ahead.count) of the next 31 pages, want at least 16")

                    // MADV_NORMAL: read around, behind the fault too.
                    try advise(restore, MADV_NORMAL, "MADV_NORMAL")
                    let normalPages = [704, 832, 960]
                    restore.mapping.touch(normalPages)
                    let around = try restore.cachedLower(in: 640..<1024)
                    let normalBehind = try restore.cachedLower(in: 688..<704)
                    expect(around.count >= 4 * normalPages.count,
                           "\(kind), MADV_NORMAL: touching \(normalPages) read \(around.count) pages around them, want at least \(4 * normalPages.count)")
                    expect(!normalBehind.isEmpty, "\(kind), MADV_NORMAL: a fault at page 704 read nothing behind it (read-around)")
                    let ownNormalMajors = majorFaults(touching: ownRuns[1], of: restore)
                    expect(ownNormalMajors <= 3,
                           "\(kind), MADV_NORMAL: reading own pages \(ownRuns[1]) took \(ownNormalMajors) major faults, want the run read at once (at most 3)")
                    Log.note("\(kind): MADV_RANDOM cached \(randomCached.count) for \(randomPages.count) touched, own run \(ownRandomMajors) major faults; MADV_SEQUENTIAL read \(ahead.count) ahead, \(behind.count) behind; MADV_NORMAL read \(around.count) around \(normalPages.count) touches, own run \(ownNormalMajors) major faults")
                }
            }
        }
    }

    static func windowFollowsReadAheadKB() throws {
        let touched = [300, 800]
        for kind in Kind.allCases {
            var read: [Int: Int] = [:]
            for kib in [32, 512] {
                try withTestDiskReadahead(kib: kib) {
                    try withRestore(kind) { restore in
                        restore.mapping.touch(touched)
                        read[kib] = try restore.cachedLower(in: 0..<1024).count
                    }
                }
            }
            let small = read[32] ?? 0, large = read[512] ?? 0
            Log.note("\(kind): touching \(touched) read \(small) pages at read_ahead_kb=32 and \(large) at 512")
            // 8 pages a window (twice that for a lower inode), per touch.
            expect(small >= touched.count && small <= touched.count * 2 * 8 + touched.count,
                   "\(kind): at read_ahead_kb=32, touching \(touched) read \(small) pages, want \(touched.count) to \(touched.count * 17)")
            expect(large >= 4 * small && large >= touched.count * 64,
                   "\(kind): at read_ahead_kb=512, touching \(touched) read \(large) pages, against \(small) at 32: the window does not follow read_ahead_kb")
        }
    }

    static func willNeedReadsAhead() throws {
        try withTestDiskReadahead(kib: 128) {
            for kind in Kind.allCases {
                try withRestore(kind) { restore in
                    // MADV_WILLNEED over pages 0..<256: own run 20...35, for
                    // the chain the shared layer's 100...163, the base elsewhere.
                    let range = 0..<256
                    let lowerPages = Set(range).subtracting(restore.ownPages)
                    let own = restore.ownPages.filter { range.contains($0) }
                    try require(madvise(restore.mapping.address, range.count * pageSize, MADV_WILLNEED) == 0,
                                "madvise(MADV_WILLNEED): \(Errno.current)")
                    let ownFile = try MappedFile.map(fd: restore.ownLayer, name: "own diff",
                                                     pages: restore.mapping.pageCount)
                    defer { ownFile.unmap() }
                    let ready = try waitUntil {
                        try restore.cachedLower(in: range).isSuperset(of: lowerPages)
                            && PageResidency.cached(ownFile).isSuperset(of: own)
                    }
                    let lowerCached = try restore.cachedLower(in: range).count
                    let ownCached = try PageResidency.cached(ownFile).intersection(own).count
                    expect(ready, "\(kind): 10 s after MADV_WILLNEED of pages \(range), lower pages cached: \(lowerCached) of \(lowerPages.count), own pages in the diff's page cache: \(ownCached) of \(own.count)")
                    // The base beneath the own run was not read (fleet: the
                    // base file's page cache; chain: the lower inode's).
                    let beneath = try PageResidency.cached(restore.mapping).intersection(own)
                    expect(beneath.isEmpty, "\(kind): MADV_WILLNEED read the pages beneath own pages too: \(beneath.sorted())")
                    // The mapping's first copy may retry under the mmap lock
                    // (a retried fault counts as major).
                    let majorPages = range.filter { majorFaults(touching: [$0], of: restore) > 0 }
                    expect(majorPages.count <= 1,
                           "\(kind): touching pages \(range) after MADV_WILLNEED took major faults at pages \(majorPages), want none")
                    try fadviseTheReopenedOverlay(restore)
                }
            }
        }
    }

    /// fadvise on the overlay reopened through /proc/self/map_files: WILLNEED
    /// fills untouched pages 512..<768 of its page cache, DONTNEED drops
    /// them again (none is mapped), unknown advice is EINVAL.
    static func fadviseTheReopenedOverlay(_ restore: Restore) throws {
        let fd = open(restore.mapping.mapFilesPath, O_RDONLY | O_CLOEXEC)
        try require(fd >= 0, "open \(restore.mapping.mapFilesPath): \(Errno.current)")
        defer { close(fd) }
        let range = 512..<768
        let lowerPages = Set(range).subtracting(restore.ownPages)
        let offset = off_t(range.lowerBound * pageSize), length = off_t(range.count * pageSize)
        expectErrno(posix_fadvise(fd, offset, length, POSIX_FADV_WILLNEED), 0, "\(restore.kind): fadvise(WILLNEED)")
        let filled = try waitUntil { try restore.cachedLower(in: range).isSuperset(of: lowerPages) }
        let cached = try restore.cachedLower(in: range).count
        expect(filled, "\(restore.kind): fadvise(WILLNEED) of pages \(range): \(cached) of \(lowerPages.count) cached after 10 s")
        // mincore counts a page whose read is still in flight, and DONTNEED
        // skips it (its folio is locked), as on any file: so DONTNEED again
        // until the reads are done. Nothing else drops the pages here (no
        // memory pressure), so a DONTNEED that drops nothing fails.
        var left = Set<Int>()
        var calls = 0
        let dropped = try waitUntil {
            calls += 1
            expectErrno(posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED), 0, "\(restore.kind): fadvise(DONTNEED)")
            left = try restore.cachedLower(in: range)
            return left.isEmpty
        }
        expect(dropped, "\(restore.kind): fadvise(DONTNEED) of pages \(range) left \(left.count) cached after \(calls) calls")
        if calls > 1 { Log.note("\(restore.kind): fadvise(DONTNEED) dropped every page after \(calls) calls (reads still in flight at the first)") }
        expectErrno(posix_fadvise(fd, 0, 0, 12345), EINVAL, "\(restore.kind): fadvise with unknown advice")
    }

    /// Polls `condition` every 10 ms for up to 10 s.
    static func waitUntil(_ condition: () throws -> Bool) throws -> Bool {
        for _ in 0..<1000 {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }
}
