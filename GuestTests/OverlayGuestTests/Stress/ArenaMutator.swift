// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// A thread that keeps changing the fuzz arena's slots under the requests
/// aimed at them: maps the data files (private, or shared read-only: the
/// files are open read-only, so nothing can write them) and anonymous
/// memory over them with MAP_FIXED, munmaps all or part of a slot,
/// mprotects, mremaps within a slot, madvise(MADV_DONTNEED)s, writes,
/// forks a child that reads the slots, tries to clean up the parent's ids
/// (EPERM or ENOENT) and creates an overlay of its own before it exits,
/// cleans up random ids, and lays layers by pidfd over the slots of a child
/// that exits meanwhile. It also does to the slots what a VMM does to guest
/// memory: MADV_MERGEABLE (KSM), move_pages to a random NUMA node,
/// MADV_COLLAPSE, MADV_PAGEOUT and process_vm_writev.
final class ArenaMutator {
    let device: OverlayDevice
    let files: FuzzFiles
    let arena: FuzzArena
    let ids: IDLedger
    let tally: Tally
    var generator: SplitMix64
    private(set) var operations: [String: Int] = [:]
    private let noise = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    /// The online NUMA nodes, for move_pages.
    private let nodes = NumaPlacement.nodes()

    static let mremapMayMove: Int32 = 1
    static let mremapFixed: Int32 = 2

    init(_ targets: FuzzTargets, seed: UInt64) {
        (device, files, arena, ids, tally) = (targets.device, targets.files, targets.arena, targets.ids, targets.tally)
        generator = SplitMix64(seed: seed)
        generator.fill(UnsafeMutableRawBufferPointer(start: noise, count: pageSize))
    }

    deinit { noise.deallocate() }

    func step() {
        let slot = generator.below(arena.slotCount)
        let slotPages = arena.slotPages
        // A page range inside the slot.
        let first = generator.below(slotPages)
        let pages = 1 + generator.below(slotPages - first)
        let choice = generator.below(100)
        if choice >= 97 {
            fork(slot)
            return
        }
        if choice >= 94 {
            attachToExitingChild(slot)
            return
        }
        if choice >= 90 {
            cleanupRandomID()
            return
        }
        arena.mutate(slot) { start in
            let at = start + first * pageSize
            let length = pages * pageSize
            switch choice {
            case ..<25:
                let fd = files.data[generator.below(files.data.count)]
                let protection = generator.chance(70) ? PROT_READ | PROT_WRITE : PROT_READ
                let result = mmap(at, length, protection, MAP_PRIVATE | MAP_FIXED, fd, off_t(generator.below(1024) * pageSize))
                count(result == MAP_FAILED ? "map private (failed)" : "map private")
            case ..<32:
                let fd = files.data[generator.below(files.data.count)]
                let result = mmap(at, length, PROT_READ, MAP_SHARED | MAP_FIXED, fd, off_t(generator.below(1024) * pageSize))
                count(result == MAP_FAILED ? "map shared (failed)" : "map shared")
            case ..<38:
                let result = mmap(at, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                count(result == MAP_FAILED ? "map anonymous (failed)" : "map anonymous")
            case ..<45:
                // The whole slot, or part of it.
                let (hole, holeLength) = generator.chance(40) ? (start, arena.slotLength) : (at, length)
                munmap(hole, holeLength)
                count("munmap")
                return arena.refill(hole, holeLength)
            case ..<55:
                let protection = generator.pick([PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE])
                count(mprotect(at, length, protection) == 0 ? "mprotect" : "mprotect (failed)")
            case ..<62:
                // Move [at, at + length) elsewhere in the slot, without overlap.
                let moved = min(pages, slotPages / 2)
                let source = generator.below(slotPages - 2 * moved + 1)
                let target = source + moved + generator.below(slotPages - source - 2 * moved + 1)
                let (from, to) = generator.chance(50) ? (source, target) : (target, source)
                let result = batch_syscalls_mremap(start + from * pageSize, moved * pageSize, moved * pageSize,
                                                   Self.mremapMayMove | Self.mremapFixed, start + to * pageSize)
                if let result, result != MAP_FAILED {
                    count("mremap")
                    return arena.refill(start + from * pageSize, moved * pageSize)
                }
                count("mremap (failed)")
            case ..<70:
                count(madvise(at, length, MADV_DONTNEED) == 0 ? "madvise(DONTNEED)" : "madvise(DONTNEED) (failed)")
            case ..<72:
                advise("madvise(MERGEABLE)", at, length, GuestMemoryScenarios.madviseMergeable)
            case ..<74:
                movePages(at, pages: min(pages, 64))
            case ..<76:
                advise("madvise(COLLAPSE)", at, length, GuestMemoryScenarios.madviseCollapse)
            case ..<78:
                advise("madvise(PAGEOUT)", at, length, GuestMemoryScenarios.madvisePageOut)
            case ..<80:
                writeAsAnotherProcess(at, length: min(length, 8 * pageSize))
            default:
                var faults = 0
                for page in 0..<min(pages, 8) {
                    faults += batch_syscalls_probe_copy(at + page * pageSize + generator.below(pageSize - 64), noise, 64) == 0 ? 0 : 1
                }
                count(faults == 0 ? "write" : "write (faulted)")
            }
            return true
        }
    }

    private func count(_ operation: String) {
        operations[operation, default: 0] += 1
    }

    /// What each madvise may say about a slot: ENOMEM where part of the
    /// range is unmapped; EINVAL where the advice does not apply (MADV_PAGEOUT
    /// of locked or PFN mappings, MADV_COLLAPSE of a mapping not eligible,
    /// which overlay mappings never are); EAGAIN where MADV_COLLAPSE met
    /// pages it could not take now, or KSM could not register the process.
    static let allowedAdvice: [Int32: Set<Int32>] = [
        GuestMemoryScenarios.madviseMergeable: [ENOMEM, EAGAIN],
        GuestMemoryScenarios.madviseCollapse: [ENOMEM, EINVAL, EAGAIN],
        GuestMemoryScenarios.madvisePageOut: [ENOMEM, EINVAL],
    ]

    private func advise(_ name: String, _ at: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32) {
        let code = madvise(at, length, advice) == 0 ? 0 : errno
        tally.add(name, code: code)
        count(code == 0 ? name : "\(name) (failed)")
        if code != 0 {
            expect(Self.allowedAdvice[advice]!.contains(code), "mutator: \(name) of a slot: unexpected \(Errno.describe(code))")
        }
    }

    /// Each page's status after move_pages to a node: the node, or what
    /// may stop a page from moving (not present, no page or the zero page,
    /// shared, busy, no memory, a dirty page that could not be written back).
    static let allowedPageStatus: Set<Int32> = [ENOENT, EFAULT, EACCES, EBUSY, ENOMEM, EIO, EINVAL]

    /// move_pages of up to 64 pages from `at` to a random node: each page
    /// is on that node afterwards, or its status says why not.
    private func movePages(_ at: UnsafeMutableRawPointer, pages: Int) {
        let node = nodes.isEmpty ? 0 : generator.pick(nodes)
        let addresses = (0..<pages).map { at + $0 * pageSize }
        let moved = NumaPlacement.move(addresses, to: node, flags: generator.chance(50) ? NumaPlacement.moveOwn : NumaPlacement.moveAll)
        tally.add("move_pages", code: moved.errno)
        count(moved.result >= 0 ? "move_pages" : "move_pages (failed)")
        // MPOL_MF_MOVE_ALL needs CAP_SYS_NICE.
        guard expect(moved.result >= 0 || (moved.errno == EPERM && geteuid() != 0),
                     "mutator: move_pages: \(Errno.describe(moved.errno))"), moved.result >= 0 else { return }
        // When some pages could not be moved (a positive result), the
        // kernel stops there and leaves the later pages' status unwritten
        // (NumaPlacement's Int32.min).
        for status in moved.status where status != Int32(node) && !(status == Int32.min && moved.result > 0) {
            expect(status < 0 && status != Int32.min && Self.allowedPageStatus.contains(-status),
                   "mutator: move_pages to node \(node): a page's status \(status) (result \(moved.result))")
        }
    }

    /// process_vm_writev of noise into the slot, from this process to
    /// itself as a VMM writes a guest's memory: the bytes written (possibly
    /// fewer than asked where the range ends in a hole), or EFAULT (nothing
    /// writable at the start), ENOMEM (no memory for the copy).
    private func writeAsAnotherProcess(_ at: UnsafeMutableRawPointer, length: Int) {
        let source = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: pageSize)
        defer { source.deallocate() }
        for offset in stride(from: 0, to: length, by: pageSize) { memcpy(source + offset, noise, pageSize) }
        let written = batch_syscalls_process_vm_write(getpid(), at, source, length)
        let code = written < 0 ? errno : 0
        tally.add("process_vm_writev", code: code)
        count(written < 0 ? "process_vm_writev (failed)" : "process_vm_writev")
        if written < 0 {
            expect([EFAULT, ENOMEM].contains(code), "mutator: process_vm_writev into a slot: unexpected \(Errno.describe(code))")
        } else {
            expect(written <= length, "mutator: process_vm_writev wrote \(written) of \(length) bytes")
        }
    }

    private func cleanupRandomID() {
        guard let id = ids.pick(&generator) else { return }
        let result = errnoCode(try device.cleanup(id))
        tally.add("cleanup (mutator)", code: result)
        if result == 0 { ids.cleanedUp(id, label: "mutator") } else {
            expect(result == ENOENT, "mutator: cleanup of \(id): \(Errno.describe(result)), expected success or ENOENT")
        }
        count("cleanup")
    }

    /// A child that exits after 0 to 2 ms, and stack requests by pidfd at
    /// its copy of a slot until it is gone: each attaches (its id the
    /// mutator's, released with the child's mapping), or fails as a stack
    /// request may, or with ESRCH once the child has exited.
    private func attachToExitingChild(_ slot: Int) {
        let delay = UInt32(generator.below(2000))
        let child: ChildProcess
        do {
            child = try ChildProcess.fork { usleep(delay); return 0 }
        } catch {
            count("remote attach (fork failed)")
            return
        }
        defer { _ = child.wait() }
        guard let process = try? TargetProcess(processID: child.id) else {
            count("remote attach (pidfd_open failed)")
            return
        }
        let allowed = FuzzThread.allowed["stack"]!.union([ESRCH])
        let layers = [RawLayer.dataExtents(fileDescriptor: files.data[generator.below(files.data.count)])]
        for _ in 0..<8 {
            let address = UnsafeRawPointer(arena.slotAddress(slot) + generator.below(arena.slotLength))
            let (error, id) = device.send(.remote(pidfd: process.pidfd.rawValue, base: address, layers: layers),
                                          command: OverlayDevice.stackCommand)
            let code = error?.rawValue ?? 0
            tally.add("stack (remote)", code: code)
            if code == 0 {
                ids.created(id, label: "mutator (remote)")
            } else {
                expect(allowed.contains(code), "mutator: a request by pidfd: unexpected \(Errno.describe(code))")
            }
            if code == ESRCH { break }
        }
        count("remote attach")
    }

    /// A child of a process whose other threads go on: it must not take a
    /// lock another thread may hold at the fork (malloc's, the Swift
    /// runtime's), so everything it uses is made before the fork, and it
    /// only copies memory and makes ioctls.
    private func fork(_ slot: Int) {
        let targets = (0..<16).map { _ in
            UnsafeRawPointer(arena.base + generator.below(arena.slotCount * arena.slotPages) * pageSize)
        }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { scratch.deallocate() }
        let parentID = ids.pick(&generator) ?? OverlayID.zero
        let cleanup = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
        defer { cleanup.deallocate() }
        parentID.bytes.withUnsafeBytes { _ = memcpy(cleanup, $0.baseAddress!, 16) }
        let segments = [(start: UInt(0), end: UInt(generator.below(2048)))]
        let create = UnsafeMutableRawPointer.allocate(byteCount: RawCreateRequest.size + RawSegments.stride, alignment: 16)
        defer { create.deallocate() }
        RawSegments.store(segments, at: create + RawCreateRequest.size)
        RawCreateRequest(baseAddress: arena.slotAddress(slot) + generator.below(arena.slotLength),
                         overlayAddress: arena.slotAddress(generator.below(arena.slotCount)),
                         segmentsAt: create + RawCreateRequest.size, segmentsSize: 1).store(at: create)
        let device = self.device
        let allowed = FuzzThread.allowed["create"]!
        let child: ChildProcess
        do {
            child = try ChildProcess.fork {
                for target in targets { _ = batch_syscalls_probe_copy(scratch, target, 64) }
                // The parent's id is not the child's to clean up.
                let cleaned = device.ioctl(OverlayDevice.cleanupCommand, cleanup)?.rawValue ?? 0
                if cleaned != EPERM && cleaned != ENOENT { return 3 }
                let created = device.ioctl(OverlayDevice.createCommand, create)?.rawValue ?? 0
                if created != 0 && !allowed.contains(created) { return 4 }
                return 0  // with its overlay, if it made one, not cleaned up
            }
        } catch {
            count("fork (failed)")
            return
        }
        count("fork")
        guard let status = child.wait(timeout: 60) else {
            child.kill()
            _ = child.wait()
            Log.fail("mutator: a forked child did not exit within 60 s")
            return
        }
        switch (status.exited, status.exitCode) {
        case (true, 0): break
        case (true, 3): Log.fail("mutator: a forked child's cleanup of its parent's id gave neither EPERM nor ENOENT")
        case (true, 4): Log.fail("mutator: a forked child's create gave an errno the ABI does not list")
        default: Log.fail("mutator: forked child: \(status)")
        }
    }
}
