// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Requests that name another process by pidfd (`MEM_OVERLAY_STACK_PIDFD`):
/// an orchestrator restoring the memory of a VMM that does not know the
/// module. The target is a child that maps base.bin private and read-write
/// (mapped by the scenario before the fork: the same address in both; the
/// scenario then unmaps its own copy, so the address is the target's alone),
/// reads its pages and waits for the scenario's turns. The docs' "Requests
/// into another process" lists what each scenario proves.
enum RemoteScenarios {
    static var all: [Scenario] { [
        Scenario("remote: bad pidfds, exited processes, pidfd fields without the flag and mappings the target lacks are refused, nothing changed in either process",
                 refusals),
        Scenario("remote: the ptrace rule of process_vm_writev decides: unprivileged callers attach to their own user's process, not to another user's, nor with a real uid other than their effective one",
                 ptraceRule),
        Scenario("remote: with Yama's ptrace_scope 0 (classic) the same callers follow process_vm_writev: nobody attaches to another nobody's process too",
                 { try ptraceRule(underScope: 0) }),
        Scenario("remote: with Yama's ptrace_scope 1 (descendants only) the same callers follow process_vm_writev: nobody attaches to its own child, not to another nobody's process",
                 { try ptraceRule(underScope: 1) }),
        Scenario("remote: with Yama's ptrace_scope 2 (admin-only attach) the same callers follow process_vm_writev: root attaches, nobody does not, even to its own child",
                 { try ptraceRule(underScope: 2) }),
        Scenario("remote: with Yama's ptrace_scope 3 (no attach, until reboot) the same callers follow process_vm_writev: nobody attaches, root neither; the scope cannot be lowered again",
                 irreversible: true, { try ptraceRule(underScope: 3) }),
        Scenario("remote: the target's threads read its pages during the attach: each shows base.bin or the chain, and once one shows the chain none goes back",
                 threadsReadDuringTheAttach),
        Scenario("remote: clean pages the target had mapped are replaced, one it wrote is EBUSY and stays; the id is the caller's; the listing shows target=PID; the target's view outlives the cleanup",
                 idAndListing),
        Scenario("remote: a balloon's MAP_FIXED anonymous memory, MADV_DONTNEED and munmap over parts of the overlaid range leave the rest right",
                 balloonDiscard),
        Scenario("remote: targets that exit, exec, fork or unmap while requests arrive: each request attaches or says ESRCH or EINVAL, children see all base or all chain, everything is freed",
                 targetsComeAndGo),
    ] }

    static let requestRejected = StackRequestScenarios.expectRejected

    /// A private read-write mapping of base.bin for a target to inherit.
    static func baseForTarget(_ name: String = "base.bin (target's)") throws -> MappedFile {
        try MappedFile.map(DataFile.base.name, name: name, protection: PROT_READ | PROT_WRITE)
    }

    // MARK: Refusals

    /// Every refusal of a request by pidfd, each with the target's mappings
    /// unchanged and no id written back: EBADF for descriptors that are no
    /// pidfd, ESRCH for a kernel thread, a zombie and a reaped process,
    /// EINVAL for pidfd or reserved set without the flag and for addresses
    /// the target has no private file mapping at, EBUSY for a mapping the
    /// target wrote.
    static func refusals() throws {
        try withDevice { device in
            let data = try TestData.load()
            let chain = try RemoteChain.write("remote-refusals", basePages: data.base.pageCount, stream: 1000)
            defer { chain.close() }
            let base = try baseForTarget()
            let written = try baseForTarget("base.bin (written by the target)")
            let shared = try MappedFile.map(DataFile.base.name, name: "base.bin (shared)", flags: MAP_SHARED)
            let anonymous = try MappedFile.anonymous(pages: 16, fill: 0x11)
            let note = [UInt8](repeating: 0xA5, count: pageSize)
            let stats = try ModuleStats.read()
            let target = try Peer.spawn("target") { link in
                base.touch(0..<32)
                expect(written.write(filePage: 7, bytes: note) == 0, "target: write page 7")
                try link.step()
                verifyPages(base, ExpectedView(base: data.base), label: "target's mapping after the refused requests")
                var writtenView = ExpectedView(base: data.base)
                writtenView.write(page: 7, bytes: note, what: "the target's write")
                verifyPages(written, writtenView, label: "target's written mapping after the EBUSY request")
                expect(anonymous.address.load(as: UInt8.self) == 0x11, "target: its anonymous memory changed")
            }
            defer { target.finish() }
            // Mapped while the scenario's copies are there, so at another address.
            let callerOnly = try baseForTarget("base.bin (the caller's, mapped after the fork)")
            defer { callerOnly.unmap() }
            for mapping in [base, written, shared, anonymous] { mapping.unmap() }
            try target.awaitStep()
            let process = try TargetProcess(processID: target.pid)
            let pidfd = process.pidfd.rawValue
            let layers = chain.rawLayers
            func remote(pidfd: Int32, at address: UnsafeRawPointer? = UnsafeRawPointer(base.address)) -> RawStackRequest {
                .remote(pidfd: pidfd, base: address, layers: layers)
            }

            // Descriptors that are no pidfd.
            requestRejected(device, remote(pidfd: -1), EBADF, "pidfd -1")
            requestRejected(device, remote(pidfd: chain.diffs[0].fd), EBADF, "a regular file's descriptor as pidfd")
            let closed = open("/dev/null", O_RDONLY | O_CLOEXEC)
            close(closed)
            requestRejected(device, remote(pidfd: closed), EBADF, "a closed descriptor as pidfd")

            // Processes without an address space.
            if let kthreadd = try? TargetProcess(processID: 2) {
                requestRejected(device, remote(pidfd: kthreadd.pidfd.rawValue), ESRCH, "kthreadd (no address space)")
            } else {
                Log.note("pidfd_open(2) failed: no kernel-thread case")
            }
            let exiting = try ChildProcess.fork { 0 }
            var info = siginfo_t()
            try require(waitid(P_PID, id_t(exiting.id), &info, WEXITED | WNOWAIT) == 0, "waitid: \(Errno.current)")
            let zombie = try TargetProcess(processID: exiting.id)
            requestRejected(device, remote(pidfd: zombie.pidfd.rawValue), ESRCH, "an exited process not yet reaped")
            _ = exiting.wait()
            requestRejected(device, remote(pidfd: zombie.pidfd.rawValue), ESRCH, "a reaped process")

            // The version 1 fields without the flag.
            var unflagged = RawStackRequest(baseAddress: base.address, layers: layers)
            unflagged.pidfd = pidfd
            requestRejected(device, unflagged, EINVAL, "pidfd set without MEM_OVERLAY_STACK_PIDFD")
            unflagged.pidfd = 0
            unflagged.reserved = 1
            requestRejected(device, unflagged, EINVAL, "reserved set, no flag")
            var reserved = remote(pidfd: pidfd)
            reserved.reserved = 0x8000_0000
            requestRejected(device, reserved, EINVAL, "reserved set, with the flag")

            // Addresses where the target has no private file mapping.
            requestRejected(device, remote(pidfd: pidfd, at: callerOnly.address), EINVAL,
                            "an address mapped in the caller only")
            requestRejected(device, remote(pidfd: pidfd, at: shared.address), EINVAL, "the target's shared mapping")
            requestRejected(device, remote(pidfd: pidfd, at: anonymous.address), EINVAL, "the target's anonymous memory")
            requestRejected(device, remote(pidfd: pidfd, at: nil), EINVAL, "address 0")
            requestRejected(device, remote(pidfd: pidfd, at: written.address), EBUSY, "the mapping the target wrote")

            let now = try ModuleStats.read()
            expect(now == stats, "module stats \(now), want \(stats) as before")
            let listed = (try? LiveOverlay.all()) ?? []
            expect(!listed.contains { $0.targetProcessID == Int(target.pid) },
                   "the listing shows an overlay in the target")
            target.finish()
        }
    }

    // MARK: Permission

    /// A caller's request succeeds exactly when `process_vm_writev` from it
    /// may write the target (and fails with EPERM otherwise): nobody against
    /// its own child (allowed unless Yama's ptrace_scope is 2 or more),
    /// nobody against root's process, nobody against another nobody's
    /// process that is not its descendant (allowed only while Yama's
    /// ptrace_scope is 0), a caller whose real uid is nobody and effective
    /// uid 1000 against its child of uid 1000 (the kernel's /proc/PID/mem
    /// check, made with the filesystem uid, would let it), and root against
    /// nobody's process (allowed unless ptrace_scope is 3: no attach at all).
    static func ptraceRule() throws {
        try withDevice { device in
            let data = try TestData.load()
            let chain = try RemoteChain.write("remote-ptrace", basePages: data.base.pageCount, stream: 1010)
            defer { chain.close() }
            let scope = yamaPtraceScope()
            let base = try baseForTarget()
            let scratch = try MappedFile.anonymous(pages: 1)
            let mailbox = try Mailbox()
            Log.note("Yama ptrace_scope \(scope)")

            /// A target that becomes `user`, waits, then shows the chain if
            /// mailbox slot `slot` says it was attached, else base.bin.
            func spawnTarget(_ label: String, user: uid_t, slot: Int) throws -> Peer {
                try Peer.spawn(label) { link in
                    if user != 0 { try becomeUser(user) }
                    try link.step()
                    let view = mailbox[slot] == 1 ? chain.view : ExpectedView(base: data.base)
                    verifyPages(base, view, label: "\(label) (\(mailbox[slot] == 1 ? "attached" : "refused"))")
                }
            }

            /// One request from this process to `target`, checked against
            /// `process_vm_writev`; records in `slot` whether it attached.
            func attempt(_ label: String, target: pid_t, slot: Int, wantWritable: Bool) {
                let writable = processVMWritable(target, at: scratch.address)
                expect(writable.writable == wantWritable,
                       "\(label): process_vm_writev \(writable.writable ? "writes" : "fails: \(Errno.describe(writable.errno))"), "
                           + "want it to \(wantWritable ? "write" : "fail") (ptrace_scope \(scope))")
                do {
                    let process = try TargetProcess(processID: target)
                    let (error, id) = device.send(.remote(pidfd: process.pidfd.rawValue, base: base.address,
                                                          layers: chain.rawLayers), command: OverlayDevice.stackCommand)
                    if writable.writable {
                        expect(error == nil, "\(label): the request failed (\(error.map { "\($0)" } ?? "")), "
                               + "though process_vm_writev may write the target")
                    } else {
                        expectErrno(error, EPERM, "\(label): the request, where process_vm_writev fails")
                    }
                    if error == nil {
                        mailbox[slot] = 1
                        expectErrno(try device.cleanup(id), 0, "\(label): cleanup by the caller")
                    }
                } catch {
                    Log.fail("\(label): pidfd_open: \(error)")
                }
            }

            let rootsTarget = try spawnTarget("root's process", user: 0, slot: 0)
            defer { rootsTarget.finish() }
            let nobodysTarget = try spawnTarget("nobody's process", user: unprivilegedUser, slot: 1)
            defer { nobodysTarget.finish() }
            // The callers' own targets inherit base.bin's mapping from here.
            defer { base.unmap() }
            try rootsTarget.awaitStep()
            try nobodysTarget.awaitStep()

            attempt("root against nobody's process", target: nobodysTarget.pid, slot: 1, wantWritable: scope < 3)
            let againstRoot = ChildProcess.spawn("nobody against root's process") {
                try becomeUser(unprivilegedUser)
                attempt("nobody against root's process", target: rootsTarget.pid, slot: 0, wantWritable: false)
            }
            againstRoot.expectSuccess("nobody against root's process")
            // A sibling, not a descendant: Yama's scope 1 refuses what the
            // classic rule (same user, dumpable) allows.
            let othersTarget = try spawnTarget("another nobody's process", user: unprivilegedUser, slot: 4)
            defer { othersTarget.finish() }
            try othersTarget.awaitStep()
            let againstSibling = ChildProcess.spawn("nobody against another nobody's process") {
                try becomeUser(unprivilegedUser)
                attempt("nobody against another nobody's process", target: othersTarget.pid, slot: 4, wantWritable: scope == 0)
            }
            againstSibling.expectSuccess("nobody against another nobody's process")

            // Callers that fork their target before dropping their ids: the
            // target is their descendant (Yama's ptrace_scope 1 allows that).
            let callers: [(label: String, realUser: uid_t, user: uid_t, wantWritable: Bool)] = [
                ("nobody against its own child", unprivilegedUser, unprivilegedUser, scope < 2),
                ("real uid nobody, effective uid 1000 against its child of uid 1000", unprivilegedUser, 1000, false),
            ]
            for (index, caller) in callers.enumerated() {
                let slot = 2 + index
                let process = ChildProcess.spawn(caller.label) {
                    let ownTarget = try spawnTarget("\(caller.label): the target", user: caller.user, slot: slot)
                    defer { ownTarget.finish() }
                    try ownTarget.awaitStep()
                    try becomeUser(caller.user, realUser: caller.realUser)
                    if caller.realUser != caller.user {
                        let memory = open("/proc/\(ownTarget.pid)/mem", O_RDWR | O_CLOEXEC)
                        Log.note("\(caller.label): /proc/\(ownTarget.pid)/mem \(memory >= 0 ? "opens" : "does not open: \(Errno.current)") for writing")
                        if memory >= 0 { close(memory) }
                    }
                    attempt(caller.label, target: ownTarget.pid, slot: slot, wantWritable: caller.wantWritable)
                }
                process.expectSuccess(caller.label)
            }
            rootsTarget.finish()
            nobodysTarget.finish()
            othersTarget.finish()
        }
    }

    /// `ptraceRule` with Yama's ptrace_scope at `scope`, then back as it
    /// was; except 3, which the kernel locks until reboot (the scenario
    /// checks that it is locked: that is why it runs last, alone).
    static func ptraceRule(underScope scope: Int) throws {
        let path = "/proc/sys/kernel/yama/ptrace_scope"
        guard KernelKnobs.value(path) != nil else { throw SkipScenario("no \(path): Yama is not built in") }
        let knobs = KernelKnobs()
        // Scope 3 stays until reboot: there is nothing to restore.
        defer { if scope < 3 { knobs.restore() } }
        try knobs.set(path, "\(scope)")
        try ptraceRule()
        if scope == 3 {
            expect((try? SystemFiles.write(path, "2")) == nil && yamaPtraceScope() == 3,
                   "ptrace_scope 3 was lowered to \(yamaPtraceScope()): Yama should lock it")
        }
    }

    // MARK: Threads racing the attach

    /// Four threads of the target read pages at random while the scenario
    /// attaches a chain (with the library's `stack(in:at:layers:)`, caches
    /// dropped): a page showing base.bin after any page showed the chain
    /// would be a request seen half done. Then every page shows the chain.
    static func threadsReadDuringTheAttach() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let chain = try RemoteChain.write("remote-threads", basePages: pages, stream: 1020)
            defer { chain.close() }
            let versions = PageVersions(before: ExpectedView(base: data.base), after: chain.view, pages: pages)
            let base = try baseForTarget()
            try SystemFiles.dropCaches()
            let target = try Peer.spawn("target") { link in
                let readers = 4
                let stop = StopFlag()
                let tallies = Locked<[(reads: Int, sawBoth: Bool)]>([])
                try ThreadGroup.run(readers + 1) { member in
                    guard member.index < readers else {
                        // The coordinator: the readers run, the scenario
                        // attaches; a moment later they stop.
                        do { try link.step() } catch { Log.fail("target: \(error)") }
                        Stopwatch.sleep(seconds: 0.3)
                        stop.set()
                        return
                    }
                    var generator = SplitMix64(seed: 77 + UInt64(member.index))
                    var sawBefore = false
                    var lastChainPage: Int?
                    var reads = 0
                    var reported = 0
                    while !stop.isSet {
                        let page = Int(generator.next() % UInt64(pages))
                        let word = base.address.load(fromByteOffset: page * pageSize, as: UInt64.self)
                        reads += 1
                        switch versions.version(of: page, word: word) {
                        case .after:
                            lastChainPage = page
                        case .before:
                            sawBefore = true
                            if let lastChainPage, reported < 4 {
                                reported += 1
                                Log.fail("reader \(member.index): page \(page) shows base.bin after page \(lastChainPage) showed the chain")
                            }
                        case .neither:
                            if reported < 4 {
                                reported += 1
                                Log.fail("reader \(member.index): page \(page) shows neither base.bin nor the chain (first bytes 0x\(hex(word)))")
                            }
                        case .either:
                            break
                        }
                    }
                    let sawBoth = sawBefore && lastChainPage != nil
                    tallies.withLock { $0.append((reads, sawBoth)) }
                }
                verifyPages(base, chain.view, label: "target after the attach")
                let all = tallies.withLock { $0 }
                Log.note("target's readers: \(all.map(\.reads)) reads; \(all.filter(\.sawBoth).count) of \(readers) saw base.bin, then the chain")
                expect(all.contains(where: \.sawBoth), "no reader saw both views: the attach did not race the readers")
            }
            defer { target.finish() }
            base.unmap()
            try target.awaitStep()
            Stopwatch.sleep(seconds: 0.1)
            let process = try TargetProcess(processID: target.pid)
            let overlay = try device.stack(in: process, at: UInt(bitPattern: base.address), layers: chain.layers)
            // The id goes at once (with the target's mapping it would go
            // too): the target keeps its view.
            try overlay.remove()
            target.finish()
        }
    }

    // MARK: The id, the listing, the target's view

    static func idAndListing() throws {
        try withDevice { device in
            let data = try TestData.load()
            let chain = try RemoteChain.write("remote-id", basePages: data.base.pageCount, stream: 1030)
            defer { chain.close() }
            let base = try baseForTarget()
            let written = try baseForTarget("base.bin (written by the target)")
            let mailbox = try Mailbox()
            let note = [UInt8](repeating: 0xC3, count: pageSize)
            let stats = try ModuleStats.read()
            let target = try Peer.spawn("target") { link in
                base.touch(base.filePages)
                expect(written.write(filePage: 9, bytes: note) == 0, "target: write page 9")
                try link.step()
                verifyPages(base, chain.view, label: "target: the pages it had mapped clean, after the attach")
                var writtenView = ExpectedView(base: data.base)
                writtenView.write(page: 9, bytes: note, what: "the target's write")
                verifyPages(written, writtenView, label: "target: the mapping it wrote (the request was EBUSY)")
                expectErrno(try device.cleanup(mailbox.id(at: 0)), EPERM, "target: cleanup of the caller's id")
                var view = chain.view
                expect(base.write(filePage: 3, bytes: note) == 0, "target: write page 3")
                view.write(page: 3, bytes: note, what: "the target's write")
                try link.step()
                verifyPages(base, view, label: "target after the caller's cleanup")
                let child = ChildProcess.spawn("target's child") {
                    verifyPages(base, view, label: "the target's child")
                }
                child.expectSuccess("the target's child")
                base.unmap()
                written.unmap()
                try link.step()
            }
            defer { target.finish() }
            base.unmap()
            written.unmap()
            try target.awaitStep()
            let process = try TargetProcess(processID: target.pid)
            let id = try device.stack(.remote(pidfd: process.pidfd.rawValue, base: base.address, layers: chain.rawLayers),
                                      "attach")
            requestRejected(device, .remote(pidfd: process.pidfd.rawValue, base: written.address, layers: chain.rawLayers),
                            EBUSY, "the mapping the target wrote")
            mailbox.store(id, at: 0)
            if let entry = LiveOverlay.entry(for: id) {
                expect(entry.processID == Int(getpid()), "listing: creator \(entry.processID), want the caller \(getpid())")
                expect(entry.targetProcessID == Int(target.pid),
                       "listing: target \(entry.targetProcessID), want the target \(target.pid)")
            } else {
                Log.fail("listing: id \(id) is not listed")
            }
            target.proceed()
            try target.awaitStep()
            expectErrno(try device.cleanup(id), 0, "the caller's cleanup")
            expectErrno(try device.cleanup(id), ENOENT, "a second cleanup")
            expect(LiveOverlay.entry(for: id) == nil, "the listing shows \(id) after its cleanup")
            target.proceed()
            try target.awaitStep()
            let after = try ModuleStats.await(stats)
            expect(after == stats, "module stats \(after) once the target unmapped, want \(stats) as before")
            target.finish()
        }
    }

    // MARK: Balloon

    /// What Firecracker's balloon does to guest memory, after an attach:
    /// anonymous memory `MAP_FIXED` over pages 100-199 (zeros, writable),
    /// `MADV_DONTNEED` over written pages 300-309 (the chain again), an
    /// `munmap` of pages 400-419; the rest shows the chain, in a child
    /// forked after too, and the target's exit frees everything.
    static func balloonDiscard() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let chain = try RemoteChain.write("remote-balloon", basePages: pages, stream: 1040)
            defer { chain.close() }
            let base = try baseForTarget()
            let stats = try ModuleStats.read()
            let target = try Peer.spawn("VMM") { link in
                base.touch(0..<64)
                try link.step()
                verifyPages(base, chain.view, label: "VMM after the attach")
                let balloon = base.pointer(toFilePage: 100)
                let mapped = mmap(balloon, 100 * pageSize, PROT_READ | PROT_WRITE,
                                  MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                try require(mapped == balloon, "mmap(MAP_FIXED) anonymous over pages 100-199: \(Errno.current)")
                let zero = [UInt8](repeating: 0, count: pageSize)
                func zeros(_ page: Int) -> Bool { memcmp(base.pointer(toFilePage: page), zero, pageSize) == 0 }
                expect((100..<200).allSatisfy(zeros), "the ballooned pages 100-199 are not all zeros")
                expect(base.write(filePage: 150, bytes: [1, 2, 3]) == 0, "write a ballooned page")
                for page in 300..<310 { _ = base.write(filePage: page, bytes: [9, 9, 9]) }
                expect(madvise(base.pointer(toFilePage: 300), 10 * pageSize, MADV_DONTNEED) == 0,
                       "madvise(MADV_DONTNEED) pages 300-309: \(Errno.current)")
                expect(munmap(base.pointer(toFilePage: 400), 20 * pageSize) == 0, "munmap pages 400-419: \(Errno.current)")
                func checkRest(_ label: String) {
                    for range in [0..<100, 200..<400, 420..<pages] {
                        verifyPages(base.part(range), chain.view, label: "\(label): pages \(range.lowerBound)-\(range.upperBound - 1)")
                    }
                    expect(base.pointer(toFilePage: 150).load(as: UInt8.self) == 1, "\(label): the write to ballooned page 150 is gone")
                    expect((101..<150).allSatisfy(zeros), "\(label): ballooned pages 101-149 are not zeros")
                }
                checkRest("VMM after the balloon")
                let child = ChildProcess.spawn("VMM's child") { checkRest("a child forked after the balloon") }
                child.expectSuccess("VMM's child")
                try link.step()
            }
            defer { target.finish() }
            base.unmap()
            try target.awaitStep()
            let process = try TargetProcess(processID: target.pid)
            let id = try device.stack(.remote(pidfd: process.pidfd.rawValue, base: base.address, layers: chain.rawLayers),
                                      "attach")
            target.proceed()
            try target.awaitStep()
            expect(LiveOverlay.entry(for: id) != nil, "the listing lost the id while parts of the mapping remain")
            expectErrno(try device.cleanup(id), 0, "cleanup")
            target.finish()
            let after = try ModuleStats.await(stats)
            expect(after == stats, "module stats \(after) after the VMM exited, want \(stats) as before")
        }
    }

    // MARK: Targets that come and go

    /// Rounds of a target that exits, execs /bin/true, forks three children
    /// (each checks that it shows base.bin everywhere or the chain
    /// everywhere) or unmaps its base, after a short delay, while the
    /// scenario sends requests at it until it is gone: each request attaches
    /// (then is cleaned up), or fails with ESRCH (gone) or EINVAL (mapping
    /// gone). At the end the module holds nothing more than before.
    static func targetsComeAndGo() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let chain = try RemoteChain.write("remote-races", basePages: pages, stream: 1050)
            defer { chain.close() }
            let versions = PageVersions(before: ExpectedView(base: data.base), after: chain.view, pages: pages)
            let base = try baseForTarget()
            let stats = try ModuleStats.read()
            let behaviours = ["exits", "execs /bin/true", "forks", "unmaps its base"]
            var outcomes: [String: Int] = [:]
            for round in 0..<48 {
                let behaviour = round % behaviours.count
                let delay = Double(round / behaviours.count % 6) * 0.002
                let label = "round \(round) (the target \(behaviours[behaviour]))"
                let child = ChildProcess.spawn(label) {
                    Stopwatch.sleep(seconds: delay)
                    switch behaviour {
                    case 0:
                        return
                    case 1:
                        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("true"), nil]
                        execv("/bin/true", &argv)
                        Log.fail("\(label): execv /bin/true: \(Errno.current)")
                    case 2:
                        for index in 0..<3 {
                            let grandchild = ChildProcess.spawn("\(label): child \(index)") {
                                let seen = versions.wholeView(of: base)
                                expect(seen != .neither, "\(label): child \(index) sees a mix of base.bin and the chain")
                            }
                            grandchild.expectSuccess("\(label): child \(index)")
                        }
                    default:
                        base.unmap()
                        Stopwatch.sleep(seconds: 0.01)
                    }
                }
                guard let process = try? TargetProcess(processID: child.id) else {
                    outcomes["gone before pidfd_open", default: 0] += 1
                    child.expectSuccess(label)
                    continue
                }
                for _ in 0..<16 {
                    let (error, id) = device.send(.remote(pidfd: process.pidfd.rawValue, base: base.address,
                                                          layers: chain.rawLayers), command: OverlayDevice.stackCommand)
                    guard let error else {
                        outcomes["attached", default: 0] += 1
                        // ENOENT: the target's mapping, and the id with it,
                        // went first (it exited, exec'd or unmapped).
                        let cleanup = errnoCode(try device.cleanup(id))
                        expect(cleanup == 0 || cleanup == ENOENT, "\(label): cleanup: \(Errno.describe(cleanup))")
                        continue
                    }
                    outcomes[Errno.describe(error.rawValue), default: 0] += 1
                    expect([ESRCH, EINVAL].contains(error.rawValue), "\(label): the request failed with \(error), want success, ESRCH or EINVAL")
                    if error.rawValue == ESRCH { break }
                }
                child.expectSuccess(label)
            }
            Log.note("requests at targets that come and go: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })")
            expect(outcomes["attached", default: 0] > 0, "no request attached to any of the targets")
            let after = try ModuleStats.await(stats)
            expect(after == stats, "module stats \(after) after every target ended, want \(stats) as before")
            base.unmap()
        }
    }
}
