// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import Synchronization
import SystemPackage

/// What docs/abi.md, "Under concurrency", promises beside sharing: a private
/// write racing a create, and no lock shared between processes while a
/// request waits on user memory.
extension SharingScenarios {
    // MARK: A private write racing a create

    /// Where the writer's stamps go in each page: past the 16 bytes that
    /// name a seeded page's file and page.
    static let stampOffset = 2048

    /// 100 rounds on a fresh 192-page mapping: one thread sends the seed's
    /// create request while another writes an 8-byte stamp into page after
    /// page, starting after a delay that varies by round, until 48 writes
    /// after the request returned. Then, as docs/abi.md, "Under concurrency",
    /// promises:
    /// - EBUSY: nothing was replaced, every write stays (each page shows
    ///   base.bin with the last stamp written to it), no id was written;
    /// - success: every page shows the overlaid view but for its stamp
    ///   word, which is the view's own or a stamp written to that page; and
    ///   a page whose last write began after the request returned shows
    ///   that write;
    /// - nothing else.
    static func writeRacingCreate() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = 192
            let rounds = 100
            var tally: [String: Int] = [:]
            var lostWrites = 0
            for round in 0..<rounds {
                let base = try MappedFile.map(DataFile.base.name, name: "round \(round) base.bin", pages: pages,
                                              protection: PROT_READ | PROT_WRITE)
                let layer = try MappedFile.map(DataFile.overlay.name)
                defer {
                    base.unmap()
                    layer.unmap()
                }
                let returned = StopFlag()
                let outcome = Locked<(error: Int32, id: OverlayID)?>(nil)
                let writes = Locked<(last: [UInt64], afterReturn: [Bool])>(([], []))
                // Mostly short delays: the create's check and replacement
                // take about as long as a few hundred yields under TCG.
                let delay = (round % 25) * (round % 25) * 8
                try ThreadGroup.run(2) { member in
                    if member.index == 0 {
                        let request = RawCreateRequest(base: base.address, overlay: layer.address, segments: seedSegments)
                        let (error, id) = device.send(request, command: OverlayDevice.createCommand)
                        returned.set()
                        outcome.withLock { $0 = (error?.rawValue ?? 0, id) }
                        return
                    }
                    var last = [UInt64](repeating: 0, count: pages)
                    var afterReturn = [Bool](repeating: false, count: pages)
                    for _ in 0..<delay { sched_yield() }
                    var stamp = UInt64(round + 1) << 32
                    var page = 0
                    var writesAfterReturn = 0
                    while writesAfterReturn < 48 {
                        let after = returned.isSet
                        stamp += 1
                        (base.address + page * pageSize + stampOffset).storeBytes(of: stamp, as: UInt64.self)
                        last[page] = stamp
                        afterReturn[page] = after
                        if after { writesAfterReturn += 1 }
                        page = (page + 7) % pages  // 7 is coprime to 192: every page in turn
                    }
                    writes.withLock { $0 = (last, afterReturn) }
                }
                guard let (error, id) = outcome.withLock({ $0 }) else { throw TestFailure("round \(round): no result") }
                let (last, afterReturn) = writes.withLock { $0 }
                switch error {
                case EBUSY:
                    tally["EBUSY", default: 0] += 1
                    expect(id == OverlayID.zero, "round \(round): EBUSY, yet an id was written back")
                    let bad = checkStamped(base, view: ExpectedView(base: data.base), last: last) { page, word, original in
                        last[page] != 0 ? word == last[page] : word == original
                    }
                    expect(bad.isEmpty, "round \(round): EBUSY, but pages lost writes or show other data: \(bad.prefix(8))")
                case 0:
                    tally["success", default: 0] += 1
                    var lost = 0
                    let bad = checkStamped(base, view: ExpectedView(base: data.base).overlaid(data.overlay, seedSegments), last: last) { page, word, original in
                        if last[page] != 0 && afterReturn[page] { return word == last[page] }
                        if word == original {
                            if last[page] != 0 { lost += 1 }
                            return true
                        }
                        // An earlier stamp of this round's writer to this page.
                        return word >> 32 == UInt64(round + 1) && word <= last[page]
                    }
                    lostWrites += lost
                    expect(bad.isEmpty, "round \(round): success, but pages mix data or lost writes made after the return: \(bad.prefix(8))")
                    expectErrno(try device.cleanup(id), 0, "round \(round): cleanup")
                default:
                    tally[Errno.describe(error), default: 0] += 1
                    Log.fail("round \(round): the create failed with \(Errno.describe(error)); want success or EBUSY")
                }
            }
            Log.note("outcomes of \(rounds) rounds: \(tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
                + "writes made before the replacement and lost with the base mapping: \(lostWrites) pages")
        }
    }

    /// Checks each page of `mapping`: all but its stamp word must equal
    /// `view`'s page; `stampAllowed(page, word, original)` judges the
    /// stamp word. Returns descriptions of the pages that fail.
    static func checkStamped(_ mapping: MappedFile, view: ExpectedView, last: [UInt64],
                             stampAllowed: (Int, UInt64, UInt64) -> Bool) -> [String] {
        var bad: [String] = []
        let actual = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { actual.deallocate() }
        for page in mapping.filePages {
            guard mapping.read(filePage: page, into: actual) == 0, case .filePage(let image, let filePage) = view.expectation(forFilePage: page) else {
                bad.append("page \(page): unreadable")
                continue
            }
            let expected = image.bytes(ofPage: filePage)
            let word = actual.load(fromByteOffset: stampOffset, as: UInt64.self)
            let original = expected.withUnsafeBytes { $0.load(fromByteOffset: stampOffset, as: UInt64.self) }
            let rest = expected.withUnsafeBytes { wanted in
                memcmp(actual, wanted.baseAddress!, stampOffset) == 0
                    && memcmp(actual + stampOffset + 8, wanted.baseAddress! + stampOffset + 8, pageSize - stampOffset - 8) == 0
            }
            if !rest {
                bad.append("page \(page): not \(image.name) page \(filePage) outside the stamp")
            } else if !stampAllowed(page, word, original) {
                bad.append("page \(page): stamp 0x\(hex(word)), last written 0x\(hex(last[page]))")
            }
        }
        return bad
    }

    // MARK: A create stuck on userfaultfd

    /// Which part of a request lives on the page userfaultfd serves.
    enum StuckPart: String, CaseIterable {
        case request = "the request"
        case segments = "the segments"
    }

    /// For each part: process A sends the seed's request with that part
    /// on an anonymous page registered with userfaultfd (missing faults),
    /// so its create waits in the kernel; while it waits, process B makes
    /// the same request (A's stack) and another on its own mappings, and
    /// cleans them up: both must complete. Then A's handler serves the page
    /// and A's create completes with the right view.
    static func stuckCreateBlocksNobody() throws {
        try withDevice { _ in
            let data = try TestData.load()
            for part in StuckPart.allCases {
                let a = try Peer.spawn("A (\(part.rawValue) on userfaultfd)") { link in
                    try stuckCreate(part, data: data, link: link)
                }
                defer { a.finish() }
                try a.awaitStep(timeout: 60)  // A's create waits on the page
                let started = Stopwatch.nowSeconds()
                let b = ChildProcess.spawn("B") {
                    let device = try OverlayDevice.openForScenario()
                    let same = try SharingRequest.seed(device, data, label: "B, A's stack")
                    defer { same.unmap() }
                    let other = try SharingRequest(device, base: DataFile.base2.name, baseImage: data.base2,
                                                   layer: DataFile.zebra.name, layerImage: data.zebra,
                                                   segments: [0...511], label: "B, another stack")
                    defer { other.unmap() }
                    verifyPages(same.base, same.view, label: "B, A's stack")
                    verifyPages(other.base, other.view, label: "B, another stack")
                    expectErrno(try device.cleanup(same.id), 0, "B: cleanup")
                    expectErrno(try device.cleanup(other.id), 0, "B: cleanup of the other")
                    expectErrno(try device.cleanup(OverlayID.random()), ENOENT, "B: cleanup of an unknown id")
                }
                if let status = b.wait(timeout: 60) {
                    expect(status.succeeded, "B: \(status)")
                    Log.note("\(part.rawValue) stuck: B's creates and cleanups took \(formatSeconds(Stopwatch.nowSeconds() - started)) s")
                } else {
                    Log.fail("\(part.rawValue) stuck: B's create did not complete within 60 s while A's waited on userfaultfd")
                    a.proceed()  // release A, then B may finish
                    b.expectSuccess("B after A was released")
                }
                a.finish()
            }
        }
    }

    /// Process A of `stuckCreateBlocksNobody`: one thread sends the
    /// request, the other waits for its fault on the userfaultfd page,
    /// reports (`link.step()`), and once let go serves the page.
    static func stuckCreate(_ part: StuckPart, data: TestData, link: PeerLink) throws {
        let device = try OverlayDevice.openForScenario()
        let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
        let layer = try MappedFile.map(DataFile.overlay.name)
        let plain = try MappedFile.anonymous(pages: 1)
        let source = try MappedFile.anonymous(pages: 1)  // what the handler copies in
        let userfault = try UserfaultPage()
        // The segments as `struct mem_overlay_segment_req` (two unsigned longs).
        func storeSegments(at address: UnsafeMutableRawPointer) {
            for (index, segment) in seedSegments.enumerated() {
                address.storeBytes(of: UInt(segment.lowerBound), toByteOffset: 16 * index, as: UInt.self)
                address.storeBytes(of: UInt(segment.upperBound), toByteOffset: 16 * index + 8, as: UInt.self)
            }
        }
        let requestAddress: UnsafeMutableRawPointer
        switch part {
        case .request:
            // The request arrives on the userfaultfd page; its segments are plain memory.
            storeSegments(at: plain.address + 2048)
            RawCreateRequest(baseAddress: base.address, overlayAddress: layer.address,
                             segmentsAt: plain.address + 2048, segmentsSize: UInt32(seedSegments.count))
                .store(at: source.address)
            requestAddress = userfault.page.address
        case .segments:
            storeSegments(at: source.address)
            RawCreateRequest(baseAddress: base.address, overlayAddress: layer.address,
                             segmentsAt: userfault.page.address, segmentsSize: UInt32(seedSegments.count))
                .store(at: plain.address)
            requestAddress = plain.address
        }
        let result = Locked<Int32?>(nil)
        let requestBits = UInt(bitPattern: requestAddress)  // an address a thread may take
        try ThreadGroup.run(2) { member in
            if member.index == 0 {
                let error = device.ioctl(OverlayDevice.createCommand, UnsafeMutableRawPointer(bitPattern: requestBits))
                result.withLock { $0 = error?.rawValue ?? 0 }
                return
            }
            do {
                try userfault.awaitFault(timeout: 30)
                try link.step()  // B runs while the create waits
                try userfault.serve(from: source.address)
            } catch {
                Log.fail("A: \(error)")
                userfault.close()  // wakes a waiting fault (it fails): the thread group can end
            }
        }
        let error = result.withLock { $0 }
        expectErrno(error ?? -1, 0, "A: the create once its page was served")
        guard error == 0 else { return }
        let id = OverlayID(bytes: Array(UnsafeRawBufferPointer(start: requestAddress, count: 16)))!
        let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
        verifyPages(base, view, label: "A after its create completed")
        expectErrno(try device.cleanup(id), 0, "A: cleanup")
    }
}

/// One anonymous page registered with a userfaultfd for missing faults:
/// a kernel access to it (the module's copy from user memory) waits until
/// `serve` copies a page in.
final class UserfaultPage: Sendable {
    let page: MappedFile
    private let userfaultfd: Userfaultfd

    init() throws {
        page = try MappedFile.anonymous(pages: 1)
        do {
            // Not user mode only: the fault to catch is the kernel's.
            userfaultfd = try Userfaultfd()
            try userfaultfd.registerMissing(page.address, length: pageSize)
        } catch {
            throw SysError("userfaultfd, UFFDIO_API or UFFDIO_REGISTER", error)
        }
        // Nothing may touch the page from userspace before the kernel does.
    }

    /// Waits for the page's fault event.
    func awaitFault(timeout: Double) throws {
        var poller = pollfd(fd: userfaultfd.descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        if ready <= 0 { throw TestFailure("no fault on the userfaultfd page within \(Int(timeout)) s: the create did not wait on it") }
        var messages = [uffd_msg](repeating: uffd_msg(), count: 1)
        switch userfaultfd.readFaults(into: &messages) {
        case .failure(let error): throw SysError("read userfaultfd", error)
        case .success(let faults) where faults.isEmpty: throw TestFailure("userfaultfd event, want a page fault")
        case .success: break
        }
    }

    /// Copies the page at `source` in, waking the faulting access.
    func serve(from source: UnsafeRawPointer) throws {
        if let error = userfaultfd.copy(to: UInt(bitPattern: page.address), from: source) {
            throw SysError("UFFDIO_COPY", error)
        }
    }

    func close() {
        userfaultfd.close()
    }
}
