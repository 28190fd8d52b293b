// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

extension FleetScenarios {
    /// The module parameter that says how long an unused lower stack stays.
    enum LowerKeepSeconds {
        static let path = "/sys/module/batch_syscalls/parameters/lower_keep_seconds"

        static func read() throws -> Int {
            guard let text = SystemFiles.read(path) else { throw SkipScenario("no \(path)") }
            guard let seconds = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.flatMap({ Int($0) }) else {
                throw TestFailure("\(path) reads '\(text)'")
            }
            return seconds
        }

        static func write(_ seconds: Int) throws {
            try SystemFiles.write(path, "\(seconds)\n")
        }
    }

    /// KiB read from block devices since boot (/proc/vmstat `pgpgin`).
    static func blockReadKiB() -> Int { GuestMemoryScenarios.vmstat("pgpgin") }

    /// The module's lower stacks once `done` holds of them, or the last
    /// read after `timeout` seconds (an overlay's inode, which holds its
    /// lower stack, goes after its last file's release and an RCU grace
    /// period).
    static func lowerStacks(awaiting done: (LowerStacks) -> Bool, timeout: Double = 5) throws -> LowerStacks {
        let deadline = Stopwatch.nowSeconds() + timeout
        while true {
            let now = try lowerStacks()
            if done(now) || Stopwatch.nowSeconds() > deadline { return now }
            Stopwatch.sleep(seconds: 0.02)
        }
    }

    /// Restores of one chain, [base, c1, c2, own diff], one after another,
    /// each mapping the chain by one v2 request, reading every page and
    /// ending (cleanup, munmap) before the next. Before each, the layer
    /// files' own page caches are dropped (`POSIX_FADV_DONTNEED`), so that
    /// only a lower stack kept with its page cache spares the disk. Caches
    /// dropped (drop_caches) would drop a kept stack's page cache too.
    ///
    /// - The first restore reads the shared layers from the disk; when it
    ///   ends, its lower stack stays, unused.
    /// - The second uses the same lower stack again (no new one, none
    ///   unused while it runs) and reads less than an eighth of the base
    ///   from the disk: its own diff's pages.
    /// - A page of c2 is written: the third restore shows the new bytes,
    ///   from a new lower stack (the stale one is evicted, not used), and
    ///   reads the shared layers from the disk again.
    /// - The slab shrink (`drop_caches` = 2, what memory pressure runs)
    ///   evicts every unused lower stack; a fourth restore reads the shared
    ///   layers from the disk again, and its stack stays.
    /// - `lower_keep_seconds` = 0 evicts every unused lower stack at once;
    ///   a fifth restore then leaves none unused behind it.
    static func unusedLowerStacksServeTheNextRestore() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let baseKiB = pages * pageSize / 1024
            let c1 = try SparseLayer.write(name: "keep-c1", pages: pages, data: [0...99, 300...399], stream: 960)
            defer { c1.close() }
            let c2 = try SparseLayer.write(name: "keep-c2", pages: pages, data: [50...149, 600...620], stream: 961)
            defer { c2.close() }
            let own = try ownDiff("keep-own", pages: pages, runs: 10, stream: 962)
            defer { own.close() }
            let baseFile = open(DataFile.base.name, O_RDONLY | O_CLOEXEC)
            guard baseFile >= 0 else { throw SysError("open \(DataFile.base.name)") }
            defer { close(baseFile) }

            let originalSeconds = try LowerKeepSeconds.read()
            // No sweep for 10 minutes (writing it moves the next one a new
            // period away): none evicts a stack while the scenario counts.
            try LowerKeepSeconds.write(600)
            defer {
                do { try LowerKeepSeconds.write(originalSeconds) } catch { Log.fail("restore \(LowerKeepSeconds.path): \(error)") }
            }
            let before = try lowerStacks()

            /// One restore of the chain: the KiB it read from the disk
            /// reading every page, and the lower stacks while it ran.
            func restore(_ label: String) throws -> (readKiB: Int, during: LowerStacks) {
                for fd in [baseFile, c1.fd, c2.fd, own.fd] {
                    expectErrno(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0, "\(label): fadvise(DONTNEED) of a layer")
                }
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                let readBefore = blockReadKiB()
                let id = try device.stack(RawStackRequest(baseAddress: base.address,
                                                          layers: [c1.raw(), c2.raw(), own.raw()]), label)
                base.touch(base.filePages)
                let readKiB = blockReadKiB() - readBefore
                let during = try lowerStacks()
                // Checking pages reads the layer files: after the counts.
                let view = ExpectedView(base: data.base).overlaid(c1.image, c1.data).overlaid(c2.image, c2.data)
                    .overlaid(own.image, own.data)
                verifyPages(base, view, label: label)
                expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
                Log.note("\(label): read \(readKiB) KiB from the disk (the base is \(baseKiB) KiB); lower stacks \(during)")
                return (readKiB, during)
            }

            let first = try restore("restore 1")
            expect(first.readKiB >= baseKiB / 2,
                   "restore 1 read \(first.readKiB) KiB only, base \(baseKiB) KiB: the measurement is broken")
            expect(first.during.inUse == before.inUse + 1, "restore 1: lower stacks \(first.during), before \(before): want one more in use")
            var after = try lowerStacks { $0.inUse == before.inUse && $0.unused == before.unused + 1 }
            expect(after.inUse == before.inUse && after.unused == before.unused + 1,
                   "after restore 1: lower stacks \(after), before \(before): want its lower stack kept, unused")

            let second = try restore("restore 2")
            expect(second.readKiB < baseKiB / 8,
                   "restore 2 read \(second.readKiB) KiB from the disk (restore 1: \(first.readKiB) KiB): the kept lower stack's page cache was not used")
            expect(second.during.alive == after.alive && second.during.unused == before.unused,
                   "restore 2: lower stacks \(second.during), after restore 1 \(after): want the kept one used again, no new one")
            after = try lowerStacks { $0.inUse == before.inUse && $0.unused == before.unused + 1 }
            expect(after.unused == before.unused + 1, "after restore 2: lower stacks \(after), before \(before): want it kept again")

            // A changed layer: its stack's page cache holds the old bytes.
            try rewritePage(600, of: c2, stream: 963)
            let third = try restore("restore 3 (c2 changed)")
            expect(third.readKiB >= baseKiB / 2,
                   "restore 3 read \(third.readKiB) KiB only: a stale lower stack's page cache served it?")
            expect(third.during.unused == before.unused && third.during.alive == before.alive + 1,
                   "restore 3: lower stacks \(third.during), before \(before): want the stale one evicted and a new one in use")
            after = try lowerStacks { $0.inUse == before.inUse && $0.unused == before.unused + 1 }
            expect(after.unused == before.unused + 1, "after restore 3: lower stacks \(after), before \(before): want the new one kept")

            // Memory pressure: the slab shrink evicts unused lower stacks,
            // as it does unused inodes. Evicting takes a stack out of the
            // index and references it first: in use until its inode goes.
            try SystemFiles.write("/proc/sys/vm/drop_caches", "2")
            after = try lowerStacks { $0.unused == 0 && $0.inUse == before.inUse }
            expect(after.unused == 0 && after.inUse == before.inUse,
                   "drop_caches=2 (the slab shrink): lower stacks \(after), before \(before): want none unused")
            let fourth = try restore("restore 4 (after the shrink)")
            expect(fourth.readKiB >= baseKiB / 2,
                   "restore 4 read \(fourth.readKiB) KiB only: the shrink left the stack's page cache?")
            after = try lowerStacks { $0.inUse == before.inUse && $0.unused == 1 }
            expect(after.unused == 1, "after restore 4: lower stacks \(after): want its lower stack kept")

            try LowerKeepSeconds.write(0)
            after = try lowerStacks { $0.unused == 0 && $0.inUse == before.inUse }
            expect(after.unused == 0 && after.inUse == before.inUse,
                   "lower_keep_seconds=0: lower stacks \(after), before \(before): want none unused")
            _ = try restore("restore 5 (lower_keep_seconds=0)")
            // Its overlay's eviction drops or keeps its lower stack at once.
            after = try lowerStacks { $0.inUse == before.inUse }
            expect(after.inUse == before.inUse && after.unused == 0,
                   "after restore 5: lower stacks \(after), before \(before): want none left behind, none kept")
        }
    }

    /// Writes page `page` of `layer` anew (`stream`'s pattern) through a
    /// writable descriptor of its own, closed before it returns (a layer
    /// open for writing is never shared).
    static func rewritePage(_ page: Int, of layer: SparseLayer, stream: UInt32) throws {
        let fd = open("/proc/self/fd/\(layer.fd)", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("reopen \(layer.name) for writing") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        PagePattern.seeded(stream: stream).fill(buffer, page: page, seed: 11)
        guard pwrite(fd, buffer.baseAddress!, pageSize, off_t(page * pageSize)) == pageSize else {
            throw SysError("write \(layer.name) page \(page)")
        }
    }
}
