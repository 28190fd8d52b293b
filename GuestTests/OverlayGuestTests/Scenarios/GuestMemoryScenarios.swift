// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// What a VMM does to guest memory besides faulting it in, on restores
/// holding own pages (private copies once touched), shared pages (a page
/// cache every restore of the lower stack maps) and privately written
/// pages (`OverlayMix`: the seed's v1 request, a fleet restore with its own
/// sparse diff, a chain with a shared layer beneath the own diff): another
/// process reads and writes the memory, KSM merges it, NUMA moves it, THP
/// tries to collapse it. Every page must keep what it shows, and nothing
/// may reach the files or another restore's view.
enum GuestMemoryScenarios {
    static var all: [Scenario] { [
        Scenario("vmm: process_vm_writev into untouched own and shared pages makes private copies (files and other views unchanged); process_vm_readv reads the view exactly",
                 processVM),
        Scenario("vmm: KSM merges identical private pages of an overlay mapping into one frame and a write unmerges one; the view stays and another restore's view never changes",
                 ksmMerging),
        Scenario("vmm: move_pages, mbind and migrate_pages move own, shared and written pages between NUMA nodes (shared page cache only with MPOL_MF_MOVE_ALL); contents unchanged",
                 numaMigration),
        Scenario("vmm: NUMA balancing during a touch loop keeps every page's contents",
                 numaBalancing),
        Scenario("vmm: MADV_COLLAPSE (EINVAL) and khugepaged leave overlay mappings at small pages; every page keeps its contents",
                 hugePages),
    ] + executable }

    /// Restores over executable mappings: the module's filesystem is not
    /// noexec (7.x made every pseudo filesystem so), its layers decide.
    static var executable: [Scenario] { [
        Scenario("vmm: a restore over a PROT_EXEC read-only mapping, private pages written through /proc/self/mem: MADV_COLLAPSE (EINVAL) and khugepaged leave it at small pages, contents kept",
                 executableHugePages),
        Scenario("vmm: a layer on a noexec mount: a request over a PROT_EXEC mapping is EPERM (the mapping unchanged), a read-write restore cannot be mprotected to PROT_EXEC (EACCES)",
                 noexecLayers),
    ] }

    static let madviseMergeable: Int32 = 12
    static let madviseHugePage: Int32 = 14
    static let madvisePageOut: Int32 = 21
    static let madviseCollapse: Int32 = 25

    /// Each kind of restore once, its layer files apart by `stream`.
    static func eachKind(_ data: TestData, stream: UInt32, _ body: (OverlayMix) throws -> Void) throws {
        for (index, kind) in OverlayMix.Kind.allCases.enumerated() {
            let mix = try OverlayMix.make(kind, data: data, stream: stream + UInt32(index) * 10)
            defer { mix.close() }
            try body(mix)
        }
    }

    /// A process holding its own restore of `mix` with every page touched,
    /// which checks its view at each step (nothing this process does may
    /// change it) and cleans up when let go.
    static func neighbour(_ device: OverlayDevice, _ mix: OverlayMix, steps: Int) throws -> Peer {
        try Peer.spawn("\(mix.label): neighbour") { link in
            let restore = try mix.restore(device, label: "\(mix.label): neighbour")
            verifyPages(restore.base, mix.layerView, label: "\(mix.label): neighbour's view")
            for step in 0..<steps {
                try link.step()
                verifyPages(restore.base, mix.layerView, label: "\(mix.label): neighbour's view after step \(step + 1)")
            }
            expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): neighbour's cleanup")
        }
    }

    // MARK: process_vm_writev, process_vm_readv

    /// A target process restores the plan and writes its private pages;
    /// this process then writes other pages of it with process_vm_writev
    /// (own and shared pages the target never touched) and reads the whole
    /// mapping with process_vm_readv: it reads the view with the writes.
    /// The target sees the writes; this process's own copy of the mapping
    /// (forked before the request), a second restore here and the files
    /// are unchanged.
    static func processVM() throws {
        try withDevice { device in
            let data = try TestData.load()
            try eachKind(data, stream: 1300) { mix in
                let base = try MappedFile.map(DataFile.base.name, name: "\(mix.label): target's base.bin",
                                              protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                let (own, shared) = mix.untouched(3)
                var targetView = mix.view
                for page in own + shared {
                    targetView.write(page: page, bytes: OverlayMix.stamp(page: page, tag: 0x5E),
                                     what: "process_vm_writev into page \(page)")
                }
                let target = try Peer.spawn("\(mix.label): target") { link in
                    let restore = try mix.restore(device, on: base, label: "\(mix.label): target")
                    try mix.writePrivately(base)
                    try link.step()
                    verifyPages(base, targetView, label: "\(mix.label): target after process_vm_writev")
                    expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): target's cleanup")
                }
                defer { target.finish() }
                try target.awaitStep()
                for page in own + shared {
                    let bytes = OverlayMix.stamp(page: page, tag: 0x5E)
                    let written = bytes.withUnsafeBytes {
                        batch_syscalls_process_vm_write(target.pid, base.pointer(toFilePage: page), $0.baseAddress!, pageSize)
                    }
                    expect(written == pageSize, "\(mix.label): process_vm_writev into page \(page): \(written) (\(Errno.current))")
                }
                let copy = UnsafeMutableRawPointer.allocate(byteCount: base.length, alignment: pageSize)
                defer { copy.deallocate() }
                let read = guest_process_vm_read(target.pid, copy, base.address, base.length)
                if expect(read == base.length, "\(mix.label): process_vm_readv read \(read) of \(base.length) bytes (\(Errno.current))") {
                    let verifier = PageVerifier("\(mix.label): process_vm_readv of the target", view: targetView)
                    for (index, page) in base.filePages.enumerated() {
                        verifier.check(filePage: page, content: copy + index * pageSize, signal: 0)
                    }
                    verifier.finish()
                }
                verifyPages(base, ExpectedView(base: data.base), label: "\(mix.label): this process's copy of the target's mapping")
                let second = try mix.restore(device, label: "\(mix.label): second restore")
                verifyPages(second.base, mix.layerView, label: "\(mix.label): a second restore")
                expectErrno(try device.cleanup(second.id), 0, "\(mix.label): second restore's cleanup")
                second.unmap()
                target.finish()
                try mix.expectFilesUnchanged("\(mix.label): after process_vm_writev")
            }
        }
    }

    // MARK: KSM

    static let ksm = "/sys/kernel/mm/ksm/"

    /// Pages of this process KSM merged (ksm_merging_pages), or when the
    /// kernel does not say, the pages sharing a KSM page system-wide.
    static func ksmMergingPages() -> (count: Int, perProcess: Bool) {
        for line in (SystemFiles.read("/proc/self/ksm_stat") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "ksm_merging_pages", let count = Int(fields[1]) { return (count, true) }
        }
        if let count = KernelKnobs.integer("/proc/self/ksm_merging_pages") { return (count, true) }
        return (KernelKnobs.integer(ksm + "pages_sharing") ?? 0, false)
    }

    /// The page frame of each of `pages` of the mapping at `address`
    /// (`firstFilePage` its first file page) in process `pid` (this one by
    /// default): 0 for a page not present, or with `anonymousOnly` for a
    /// page of a page cache (which every mapping of it shares).
    static func frames(_ address: UnsafeMutableRawPointer, _ pages: [Int], pid: pid_t? = nil,
                       anonymousOnly: Bool = false) throws -> [UInt64] {
        try pages.map { page in
            let entry = try PageResidency.entries(of: address + page * pageSize, pages: 1, pid: pid)[0]
            return entry.present && !(anonymousOnly && entry.isFileOrShared) ? entry.frame : 0
        }
    }

    /// With ksmd running fast, a restore marked MADV_MERGEABLE gets eight
    /// pages (four own, four shared, untouched before) written with the
    /// same bytes: ksmd merges them into one page frame (pagemap, bounded
    /// wait). A write to one of them gives it a frame of its own at once;
    /// the others stay merged. The view is right throughout. A neighbour
    /// restores the same plan (mapped at the same address, also mergeable):
    /// its own pages' private copies equal this process's, and KSM may
    /// merge them across the two processes (counted, not required); its
    /// view never changes, no page of it ever shares a frame with a page
    /// this process wrote, and a page it writes does not change this
    /// process's view.
    static func ksmMerging() throws {
        try withDevice { device in
            guard SystemFiles.exists(ksm + "run") else { throw SkipScenario("kernel config: CONFIG_KSM is not set") }
            let data = try TestData.load()
            let knobs = KernelKnobs()
            defer { knobs.restore() }
            try knobs.set(ksm + "sleep_millisecs", "10")
            try knobs.set(ksm + "pages_to_scan", "4000")
            try knobs.set(ksm + "run", "1")
            try eachKind(data, stream: 1400) { mix in
                let neighbourPage = mix.untouched(6).own[5]
                let neighbourBase = try MappedFile.map(DataFile.base.name, name: "\(mix.label): neighbour's base.bin",
                                                       protection: PROT_READ | PROT_WRITE)
                defer { neighbourBase.unmap() }
                let neighbour = try Peer.spawn("\(mix.label): neighbour") { link in
                    let restore = try mix.restore(device, on: neighbourBase, label: "\(mix.label): neighbour")
                    expectErrno(madvise(neighbourBase.address, neighbourBase.length, madviseMergeable) == 0 ? 0 : errno, 0,
                                "\(mix.label): neighbour's MADV_MERGEABLE")
                    verifyPages(neighbourBase, mix.layerView, label: "\(mix.label): neighbour's view")
                    try link.step()
                    verifyPages(neighbourBase, mix.layerView, label: "\(mix.label): neighbour's view, this process's pages merged")
                    let bytes = OverlayMix.stamp(page: neighbourPage, tag: 0x11)
                    try require(neighbourBase.write(filePage: neighbourPage, bytes: bytes) == 0, "neighbour's write")
                    var view = mix.layerView
                    view.write(page: neighbourPage, bytes: bytes, what: "neighbour's write")
                    try link.step()
                    verifyPages(neighbourBase, view, label: "\(mix.label): neighbour's view at the end")
                    expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): neighbour's cleanup")
                }
                defer { neighbour.finish() }
                try neighbour.awaitStep()
                let restore = try mix.restore(device, label: "\(mix.label): merging restore")
                defer { restore.unmap() }
                let mapping = restore.base
                expectErrno(madvise(mapping.address, mapping.length, madviseMergeable) == 0 ? 0 : errno, 0,
                            "\(mix.label): MADV_MERGEABLE")
                try mix.writePrivately(mapping)
                let (own, shared) = mix.untouched(4)
                let twins = own + shared
                let twin = OverlayMix.stamp(page: 0, tag: 0x7A)
                var view = mix.view
                for page in twins {
                    try require(mapping.write(filePage: page, bytes: twin) == 0, "write twin page \(page)")
                    view.write(page: page, bytes: twin, what: "twin page \(page)")
                }
                verifyPages(mapping, view, label: "\(mix.label): before merging")
                var twinFrames: [UInt64] = []
                let merged = KernelKnobs.await(seconds: 40) {
                    twinFrames = (try? frames(mapping.address, twins)) ?? []
                    return twinFrames.count == twins.count && twinFrames[0] != 0 && Set(twinFrames).count == 1
                }
                expect(merged, "\(mix.label): ksmd did not merge 8 identical private pages within 40 s (frames \(twinFrames.map { hex($0) }))")
                let pages = Array(mapping.filePages)
                let mine = try frames(mapping.address, pages, anonymousOnly: true)
                let theirs = try frames(neighbourBase.address, pages, pid: neighbour.pid, anonymousOnly: true)
                let acrossProcesses = pages.indices.filter { mine[$0] != 0 && mine[$0] == theirs[$0] }.map { pages[$0] }
                Log.note("\(mix.label): twins merged: \(merged); KSM merged pages \(ksmMergingPages().perProcess ? "of this process" : "(pages_sharing)") \(ksmMergingPages().count); own pages merged with the neighbour's copies: \(acrossProcesses.count) of \(mix.ownPages.count)")
                let ownSet = Set(mix.ownPages)
                expect(acrossProcesses.allSatisfy { ownSet.contains($0) && view.written[$0] == nil },
                       "\(mix.label): pages share a frame with the neighbour's though their views differ or they are no own copies: \(acrossProcesses.filter { !ownSet.contains($0) || view.written[$0] != nil })")
                let writtenFrames = Set(view.written.keys.map { mine[pages.firstIndex(of: $0)!] })
                expect(theirs.allSatisfy { $0 == 0 || !writtenFrames.contains($0) }, "\(mix.label): a neighbour's page shares a frame with a page this process wrote")
                verifyPages(mapping, view, label: "\(mix.label): twins merged")
                neighbour.proceed()
                try neighbour.awaitStep()
                verifyPages(mapping, view, label: "\(mix.label): after the neighbour wrote page \(neighbourPage)")
                let unmerged = OverlayMix.stamp(page: twins[0], tag: 0x7B)
                try require(mapping.write(filePage: twins[0], bytes: unmerged) == 0, "write a merged page")
                view.write(page: twins[0], bytes: unmerged, what: "twin page \(twins[0]) written again")
                if merged {
                    let after = try frames(mapping.address, twins)
                    expect(after[0] != twinFrames[0] && Set(after.dropFirst()) == [twinFrames[0]],
                           "\(mix.label): after a write to merged page \(twins[0]): frames \(after.map { hex($0) }), want a new one for it and \(hex(twinFrames[0])) for the rest")
                }
                verifyPages(mapping, view, label: "\(mix.label): a merged page written")
                expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): cleanup")
                neighbour.finish()
                try mix.expectFilesUnchanged("\(mix.label): after KSM")
            }
        }
    }

    // MARK: NUMA

    /// This process restores the plan, writes its private pages and reads
    /// every page; a neighbour restores it too and reads every page, so the
    /// shared pages are mapped by both. Then, to one node and back:
    /// move_pages with MPOL_MF_MOVE moves own and written pages (mapped
    /// here only) and leaves shared pages where they are (status -EACCES),
    /// with MPOL_MF_MOVE_ALL it moves them too; mbind(MPOL_BIND) with
    /// MPOL_MF_MOVE and MPOL_MF_MOVE_ALL does the same; migrate_pages (as
    /// root: every page, shared ones too) moves them all. The view is
    /// checked after each.
    static func numaMigration() throws {
        try withDevice { device in
            let (first, second) = try NumaPlacement.requireTwoNodes()
            let data = try TestData.load()
            try eachKind(data, stream: 1500) { mix in
                let neighbour = try neighbour(device, mix, steps: 1)
                defer { neighbour.finish() }
                try neighbour.awaitStep()
                let restore = try mix.restore(device, label: "\(mix.label): moved restore")
                defer { restore.unmap() }
                let mapping = restore.base
                try mix.writePrivately(mapping)
                verifyPages(mapping, mix.view, label: "\(mix.label): before moving")
                let pages = Array(mapping.filePages)
                let addresses = pages.map { mapping.pointer(toFilePage: $0) }
                let mappedHereOnly = Set(mix.ownPages + mix.writtenPages)

                /// Checks every page after a move to `node` that moves
                /// shared pages only if `all`.
                func expectMoved(_ what: String, to node: Int, all: Bool, before: [Int32], status: [Int32]? = nil) throws {
                    let after = try NumaPlacement.nodes(of: addresses)
                    var counts = (moved: 0, stayed: 0, wrong: 0)
                    for (index, page) in pages.enumerated() {
                        let movable = all || mappedHereOnly.contains(page)
                        let want = movable ? Int32(node) : before[index]
                        if after[index] != want {
                            counts.wrong += 1
                            if counts.wrong <= 5 {
                                Log.fail("\(mix.label): \(what): page \(page) (\(mappedHereOnly.contains(page) ? "mapped here only" : "shared")) on node \(after[index]), want \(want) (before: \(before[index])\(status.map { ", status \($0[index])" } ?? ""))")
                            }
                        } else if before[index] != after[index] {
                            counts.moved += 1
                        } else {
                            counts.stayed += 1
                        }
                        if let status, !movable, before[index] != Int32(node) {
                            expect(status[index] == -EACCES,
                                   "\(mix.label): \(what): shared page \(page) has status \(status[index]), want -EACCES")
                        }
                    }
                    Log.note("\(mix.label): \(what) to node \(node): \(counts.moved) pages moved, \(counts.stayed) stayed\(counts.wrong > 0 ? ", \(counts.wrong) wrong" : "")")
                    verifyPages(mapping, mix.view, label: "\(mix.label): after \(what) to node \(node)")
                }

                // Every page on the first node: each round then moves them.
                let gathered = NumaPlacement.move(addresses, to: first, flags: NumaPlacement.moveAll)
                expect(gathered.result >= 0, "\(mix.label): move_pages(MPOL_MF_MOVE_ALL) to node \(first): \(Errno.describe(gathered.errno))")
                for node in [second, first] {
                    for (flags, name) in [(NumaPlacement.moveOwn, "move_pages(MPOL_MF_MOVE)"), (NumaPlacement.moveAll, "move_pages(MPOL_MF_MOVE_ALL)")] {
                        let before = try NumaPlacement.nodes(of: addresses)
                        let moved = NumaPlacement.move(addresses, to: node, flags: flags)
                        expect(moved.result >= 0, "\(mix.label): \(name): \(Errno.describe(moved.errno))")
                        try expectMoved(name, to: node, all: flags == NumaPlacement.moveAll, before: before, status: moved.status)
                    }
                }
                // Everything is on the first node now.
                for (flags, name) in [(NumaPlacement.moveOwn, "mbind(MPOL_MF_MOVE)"), (NumaPlacement.moveAll, "mbind(MPOL_MF_MOVE_ALL)")] {
                    let before = try NumaPlacement.nodes(of: addresses)
                    expectErrno(NumaPlacement.bind(mapping.address, mapping.length, to: second, flags: flags), 0, "\(mix.label): \(name)")
                    try expectMoved(name, to: second, all: flags == NumaPlacement.moveAll, before: before)
                }
                expectErrno(NumaPlacement.bind(mapping.address, mapping.length, to: nil, flags: 0), 0, "\(mix.label): mbind(MPOL_DEFAULT)")
                let before = try NumaPlacement.nodes(of: addresses)
                let left = NumaPlacement.migrateProcess(from: second, to: first)
                expect(left >= 0, "\(mix.label): migrate_pages: \(left < 0 ? Errno.describe(Int32(-left)) : "")")
                Log.note("\(mix.label): migrate_pages left \(left) pages of the process unmoved")
                try expectMoved("migrate_pages", to: first, all: true, before: before)
                neighbour.finish()
                expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): cleanup")
                try mix.expectFilesUnchanged("\(mix.label): after NUMA moves")
            }
        }
    }

    /// NUMA balancing on (it unmaps pages now and then to see who touches
    /// them, and moves them to the toucher's node) while this process,
    /// pinned to a CPU of the second node, reads every page of a restore
    /// gathered on the first node and rewrites its private pages for six
    /// seconds; every page then shows what it showed. How many pages
    /// balancing moved is noted, not asserted (it is a heuristic: on 6.12
    /// it moved all 1,024 pages, own, shared and written; unpinned, none).
    static func numaBalancing() throws {
        try withDevice { device in
            let (first, second) = try NumaPlacement.requireTwoNodes()
            let path = "/proc/sys/kernel/numa_balancing"
            guard SystemFiles.exists(path) else { throw SkipScenario("kernel config: CONFIG_NUMA_BALANCING is not set") }
            let data = try TestData.load()
            let knobs = KernelKnobs()
            defer { knobs.restore() }
            try knobs.set(path, "1")
            // Scan sooner and faster than the defaults (1 s delay, 1 s
            // periods) where debugfs has the knobs.
            let sched = "/sys/kernel/debug/sched/numa_balancing/"
            _ = SystemFiles.ensureMounted("debugfs", at: "/sys/kernel/debug")
            for (name, value) in [("scan_delay_ms", "0"), ("scan_period_min_ms", "100")] where SystemFiles.exists(sched + name) {
                try knobs.set(sched + name, value)
            }
            try eachKind(data, stream: 1600) { mix in
                let restore = try mix.restore(device, label: "\(mix.label): balanced restore")
                defer { restore.unmap() }
                let mapping = restore.base
                try mix.writePrivately(mapping)
                // Every page present first: a page's node before and after
                // the loop then says whether balancing moved it.
                verifyPages(mapping, mix.view, label: "\(mix.label): before the touch loop")
                let addresses = mapping.filePages.map { mapping.pointer(toFilePage: $0) }
                // Pages on the first node, the loop on a CPU of the second:
                // balancing has a reason to move them.
                _ = NumaPlacement.move(addresses, to: first, flags: NumaPlacement.moveAll)
                if let cpu = NumaPlacement.firstCPU(of: second) {
                    expect(guest_pin_to_cpu(cpu) == 0, "pin to CPU \(cpu) of node \(second): \(Errno.current)")
                }
                let before = try NumaPlacement.nodes(of: addresses)
                let hintFaults = vmstat("numa_hint_faults")
                let verifier = PageVerifier("\(mix.label): touch loop under NUMA balancing", view: mix.view, reportLimit: 4)
                let end = Stopwatch.nowSeconds() + 6
                var rounds = 0
                while Stopwatch.nowSeconds() < end {
                    for page in mapping.filePages { verifier.check(mapping, filePage: page) }
                    try mix.writePrivately(mapping)
                    rounds += 1
                }
                verifier.finish()
                let after = try NumaPlacement.nodes(of: addresses)
                let moved = zip(before, after).filter { $0 != $1 }.count
                Log.note("\(mix.label): \(rounds) rounds; NUMA hint faults \(vmstat("numa_hint_faults") - hintFaults); \(moved) pages changed node, \(after.filter { $0 < 0 }.count) not present")
                verifyPages(mapping, mix.view, label: "\(mix.label): after NUMA balancing")
                expectErrno(try device.cleanup(restore.id), 0, "\(mix.label): cleanup")
            }
        }
    }

    /// A /proc/vmstat counter (0 when missing).
    static func vmstat(_ name: String) -> Int {
        for line in (SystemFiles.read("/proc/vmstat") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == Substring(name) { return Int(fields[1]) ?? 0 }
        }
        return 0
    }

    // MARK: THP

    static let thp = "/sys/kernel/mm/transparent_hugepage/"

    /// A field (e.g. "FilePmdMapped") of `mapping`'s entries in
    /// /proc/self/smaps, in kB, summed over the VMAs inside the mapping (an
    /// mprotect may have split it); nil when no entry inside has it.
    static func smapsField(_ mapping: MappedFile, _ field: String) -> Int? {
        let (start, end) = (UInt(bitPattern: mapping.address), UInt(bitPattern: mapping.end))
        var inside = false
        var total: Int?
        for line in (SystemFiles.read("/proc/self/smaps") ?? "").split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = words.first, !range.hasSuffix(":"), range.contains("-") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] >= start && bounds[1] <= end
                continue
            }
            if inside, line.hasPrefix(field + ":"), words.count > 1, let value = Int(words[1]) {
                total = (total ?? 0) + value
            }
        }
        return total
    }

    /// Writes `bytes` at `address` through /proc/self/mem, as a debugger
    /// does: a forced write, which makes a private copy even where the
    /// mapping is read-only. Where the kernel forces such writes only for a
    /// ptracer (7.3's Debian kernel: PROC_MEM_FORCE_PTRACE, EIO), the page
    /// is made writable for the write and put back to `protection`: the
    /// same private copy.
    static func forceWrite(_ address: UnsafeMutableRawPointer, _ bytes: [UInt8], protection: Int32) throws {
        let fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC)
        try require(fd >= 0, "open /proc/self/mem: \(Errno.current)")
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(Int(bitPattern: address))) }
        if written == bytes.count { return }
        let code = errno
        try require(written < 0 && code == EIO, "write /proc/self/mem at \(address): \(written) (\(Errno.describe(code)))")
        let page = UnsafeMutableRawPointer(bitPattern: Int(bitPattern: address) & ~(pageSize - 1))!
        let length = (Int(bitPattern: address) + bytes.count - Int(bitPattern: page) + pageSize - 1) & ~(pageSize - 1)
        try require(mprotect(page, length, protection | PROT_WRITE) == 0, "mprotect(+PROT_WRITE): \(Errno.current)")
        bytes.withUnsafeBytes { address.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        try require(mprotect(page, length, protection) == 0, "mprotect back: \(Errno.current)")
    }

    /// Each restore read-write (MADV_HUGEPAGE first, then written and read
    /// whole): MADV_COLLAPSE, then khugepaged scanning fast for two full
    /// scans. The module keeps its overlay file counted as open for
    /// writing, so that no kernel collapses it: the lower page cache mapped
    /// huge would hide the own layers' pages (overlay.c,
    /// bs_overlay_inode_create). MADV_COLLAPSE says EINVAL on every kernel
    /// (6.1, 6.12, 7.3: without READ_ONLY_THP_FOR_FS no file mapping is
    /// eligible; with it, as in the debug kernel, a file open for writing is
    /// not; later kernels take no anonymous inode). No page is mapped huge,
    /// and every page shows what it showed, MADV_PAGEOUT after it too.
    static func hugePages() throws {
        try withHugePageKnobs { device, data in
            for (index, kind) in OverlayMix.Kind.allCases.enumerated() {
                try collapse(device, data, kind, executable: false, stream: 1700 + UInt32(index) * 10)
            }
        }
    }

    /// The seed's restore over a PROT_EXEC read-only private mapping (as
    /// guest memory that runs code may be mapped), its private pages written
    /// through /proc/self/mem as a debugger writes them: the request
    /// succeeds, and MADV_COLLAPSE and khugepaged do as on a read-write
    /// one. (7.x marks pseudo filesystems noexec; the module clears that on
    /// its own, so this holds on 7.3 too.)
    static func executableHugePages() throws {
        try withHugePageKnobs { device, data in
            try expectOverlayFileExecutable(device, data)
            try collapse(device, data, .seed, executable: true, stream: 1750)
        }
    }

    /// An overlay file reopened through /proc/self/map_files maps with
    /// PROT_EXEC as its layers would: what a request over a PROT_EXEC
    /// mapping needs (the module maps the file with the mapping's
    /// protection), apart from the request itself.
    static func expectOverlayFileExecutable(_ device: OverlayDevice, _ data: TestData) throws {
        let fixture = try SeedFixture()
        defer { fixture.unmap() }
        let id = try device.overlay(RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address,
                                                     segments: seedSegments), "read-write seed request")
        let fd = open(fixture.base.mapFilesPath, O_RDONLY | O_CLOEXEC)
        try require(fd >= 0, "open \(fixture.base.mapFilesPath): \(Errno.current)")
        defer { close(fd) }
        let mapped = mmap(nil, pageSize, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
        let code = mapped == MAP_FAILED ? errno : 0
        if mapped != MAP_FAILED { munmap(mapped, pageSize) }
        Log.note("mmap(PROT_READ | PROT_EXEC) of the overlay file: \(Errno.describe(code))")
        expectErrno(code, 0, "mmap(PROT_READ | PROT_EXEC) of the overlay file reopened through map_files")
        expectErrno(try device.cleanup(id), 0, "cleanup of the read-write seed request")
    }

    /// Runs `body` with khugepaged scanning fast (and THP not off),
    /// restoring the settings afterwards.
    static func withHugePageKnobs(_ body: (OverlayDevice, TestData) throws -> Void) throws {
        try withDevice { device in
            guard SystemFiles.exists(thp + "enabled") else { throw SkipScenario("kernel config: CONFIG_TRANSPARENT_HUGEPAGE is not set") }
            let data = try TestData.load()
            let knobs = KernelKnobs()
            defer { knobs.restore() }
            if KernelKnobs.value(thp + "enabled")?.contains("[never]") == true { try knobs.set(thp + "enabled", "madvise") }
            for (name, value) in [("scan_sleep_millisecs", "10"), ("alloc_sleep_millisecs", "10"), ("pages_to_scan", "4096")] {
                try knobs.set(thp + "khugepaged/" + name, value)
            }
            Log.note("THP enabled: \(KernelKnobs.value(thp + "enabled") ?? "?")")
            try body(device, data)
        }
    }

    /// One restore of `kind` through MADV_HUGEPAGE, MADV_COLLAPSE,
    /// khugepaged and MADV_PAGEOUT, checked after each.
    static func collapse(_ device: OverlayDevice, _ data: TestData, _ kind: OverlayMix.Kind, executable: Bool, stream: UInt32) throws {
        let mix = try OverlayMix.make(kind, data: data, stream: stream)
        defer { mix.close() }
        let label = "\(mix.label)\(executable ? " (PROT_EXEC, read-only)" : "")"
        let restore = try mix.restore(device, protection: executable ? PROT_READ | PROT_EXEC : PROT_READ | PROT_WRITE,
                                      label: label)
        defer { restore.unmap() }
        let mapping = restore.base
        let advised = madvise(mapping.address, mapping.length, madviseHugePage) == 0 ? 0 : errno
        if executable {
            for page in mix.writtenPages {
                try forceWrite(mapping.pointer(toFilePage: page), OverlayMix.stamp(page: page, tag: 0xC3),
                               protection: PROT_READ | PROT_EXEC)
            }
        } else {
            try mix.writePrivately(mapping)
        }
        verifyPages(mapping, mix.view, label: "\(label): before MADV_COLLAPSE")
        let collapsed = madvise(mapping.address, mapping.length, madviseCollapse) == 0 ? 0 : errno
        Log.note("\(label): MADV_HUGEPAGE: \(Errno.describe(advised)); MADV_COLLAPSE: \(Errno.describe(collapsed))")
        expectErrno(collapsed, EINVAL, "\(label): MADV_COLLAPSE of an overlay mapping")
        verifyPages(mapping, mix.view, label: "\(label): after MADV_COLLAPSE")
        if let scans = KernelKnobs.integer(thp + "khugepaged/full_scans") {
            let done = KernelKnobs.await(seconds: 60) { (KernelKnobs.integer(thp + "khugepaged/full_scans") ?? 0) >= scans + 2 }
            expect(done, "\(label): khugepaged made no two full scans within 60 s")
        }
        let filePmd = smapsField(mapping, "FilePmdMapped")
        let anonHuge = smapsField(mapping, "AnonHugePages")
        Log.note("\(label): after khugepaged: FilePmdMapped \(filePmd.map(String.init) ?? "?") kB, AnonHugePages \(anonHuge.map(String.init) ?? "?") kB")
        expect(filePmd != nil && anonHuge != nil, "\(label): /proc/self/smaps has no FilePmdMapped or AnonHugePages for the mapping")
        expect((filePmd ?? 0) == 0 && (anonHuge ?? 0) == 0,
               "\(label): parts of the overlay mapping are mapped huge (FilePmdMapped \(filePmd ?? 0) kB, AnonHugePages \(anonHuge ?? 0) kB)")
        verifyPages(mapping, mix.view, label: "\(label): after khugepaged")
        // MADV_PAGEOUT then brings each page back from where it lives.
        expectErrno(madvise(mapping.address, mapping.length, madvisePageOut) == 0 ? 0 : errno, 0, "\(label): MADV_PAGEOUT")
        verifyPages(mapping, mix.view, label: "\(label): after MADV_PAGEOUT")
        expectErrno(try device.cleanup(restore.id), 0, "\(label): cleanup")
        try mix.expectFilesUnchanged("\(label): after THP")
    }
}
