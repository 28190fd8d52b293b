// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_multithread_ioctl: many threads send one create request for one
// mapping, then one cleanup request for its id; exactly one of each succeeds.
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SeedProgramSupport
import Synchronization

/// How many of the threads' requests ended which way.
final class Tally: Sendable {
    let counts = Mutex<[String: Int]>([:])

    func record(_ error: Errno?) {
        counts.withLock { $0[error?.name ?? "success", default: 0] += 1 }
    }

    var successes: Int { counts.withLock { $0["success"] ?? 0 } }

    /// "success 1, EEXIST 1999", successes first.
    var summary: String {
        counts.withLock { counts in
            counts.sorted { ($0.key == "success" ? "" : $0.key) < ($1.key == "success" ? "" : $1.key) }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
    }
}

/// The seed's program, with its assertions: one base mapping of base.bin
/// (MAP_PRIVATE, read-only, 1024 pages) and one of overlay.bin; one request
/// overlaying every even page (512 one-page segments), in memory all the
/// threads share; N threads each open the device and send that same
/// request: exactly one succeeds. Then N threads each open the device and
/// send one cleanup request for the id the module wrote back: exactly one
/// succeeds. Added checks: the others fail with EEXIST and ENOENT, the
/// mapping shows the overlay on every even page before and after the
/// cleanup, and the listing shows the id until the cleanup.
struct PageFaultMultithreadIoctl {
    let run: SeedRun
    let threads: Int
    var report: TAPReporter { run.report }
    static let pages = 1024

    func main() -> Never {
        // Every thread holds its own descriptor of the device at once: room
        // for all of them, or some would fail to open it (EMFILE) instead of
        // racing.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let wanted = rlim_t(threads + 256)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            limit.rlim_max = Swift.max(limit.rlim_max, wanted)
            report.check(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0,
                         "RLIMIT_NOFILE raised to \(wanted) for \(threads) descriptors of the device",
                         why: Errno.current.name)
        }
        let base: MappedFile, layer: MappedFile, shared: MappedFile
        do {
            base = try run.data.map(.base, pages: Self.pages)
            layer = try run.data.map(.overlay, pages: Self.pages)
            // One page holds the request, its segments and the cleanup request.
            shared = try MappedFile(anonymousPages: 3)
        } catch {
            report.fail("mapping base.bin, overlay.bin and the requests: \(error)")
            run.finish()
        }
        let evenPages = (0..<Self.pages / 2).map { (start: UInt(2 * $0), end: UInt(2 * $0)) }
        let segmentsAddress = shared.address + MemoryPage.size
        RawSegments.store(evenPages, at: segmentsAddress)
        RawCreateRequest(baseAddress: base.address, overlayAddress: layer.address,
                         segmentsAt: segmentsAddress, segmentsSize: UInt32(evenPages.count))
            .store(at: shared.address)
        let verifier = run.data.verifier(segments: SegmentList(trusted: evenPages.map { Int($0.start)...Int($0.end) }))

        let creates = send(OverlayDevice.createCommand, argument: shared.address, what: "create")
        report.check(creates.successes == 1, "exactly one of \(threads) threads' create requests succeeded",
                     why: "\(creates.summary)")
        report.check(creates.summary == "success 1, EEXIST \(threads - 1)",
                     "the others failed with EEXIST: \(creates.summary)")
        let id = OverlayID(bytes: Array(UnsafeRawBufferPointer(start: shared.address, count: 16)))!
        report.check(id.bytes.contains { $0 != 0 }, "the request holds the id the module wrote back: \(id)")
        report.verify(base, with: verifier, "the base mapping shows overlay.bin on every even page")
        let listed = (try? LiveOverlay.all()) ?? []
        report.check(listed.contains { $0.id == id && $0.processID == Int(getpid()) },
                     "the listing shows the id, created by this process")

        let cleanupAddress = shared.address + 2 * MemoryPage.size
        cleanupAddress.copyMemory(from: shared.address, byteCount: 16)
        let cleanups = send(OverlayDevice.cleanupCommand, argument: cleanupAddress, what: "cleanup")
        report.check(cleanups.successes == 1, "exactly one of \(threads) threads' cleanup requests succeeded",
                     why: "\(cleanups.summary)")
        report.check(cleanups.summary == "success 1, ENOENT \(threads - 1)",
                     "the others failed with ENOENT: \(cleanups.summary)")
        report.check(!((try? LiveOverlay.all()) ?? []).contains { $0.id == id }, "the listing no longer shows the id")
        report.verify(base, with: verifier, "after the cleanup the mapping still shows the overlay")
        run.finish()
    }

    /// `threads` threads each open the device and, once all have, send
    /// `command` with the one shared `argument`.
    func send(_ command: UInt, argument: UnsafeMutableRawPointer, what: String) -> Tally {
        let tally = Tally()
        let address = UInt(bitPattern: argument)
        do {
            try ThreadGroup.run(threads) { member in
                let device = Result { () throws(OverlayError) in try OverlayDevice() }
                // Opened first, sent together: the requests overlap as much
                // as they can.
                member.waitForAll()
                switch device {
                case .success(let device): tally.record(device.ioctl(command, UnsafeMutableRawPointer(bitPattern: address)))
                case .failure(let error): tally.record(error.errno)
                }
            }
        } catch {
            report.fail("starting \(threads) threads: pthread_create: \(error)")
            run.finish()
        }
        report.diagnostic("\(what): \(tally.summary)")
        return tally
    }
}

/// `page_fault_multithread_ioctl`: its options and help; the checks are ``PageFaultMultithreadIoctl``'s.
@main
struct PageFaultMultithreadIoctlCommand: SeedProgram {
    static let abstract = """
        Many threads send one create request for one mapping, then one cleanup request for its id; exactly one of each succeeds.
        """
    static let details = """
        The seed's program: maps the first 1024 pages of base.bin (MAP_PRIVATE, \
        read-only) and of overlay.bin, writes one create request overlaying \
        every even page (512 one-page segments) into memory all threads share, \
        then starts N threads that each open /dev/batch_syscalls and send that \
        same request: exactly one must succeed, the others get EEXIST. Then N \
        threads each send one cleanup request for the id written back: exactly \
        one must succeed, the others get ENOENT. Also checks the mapping page \
        by page and the debugfs listing. Needs the module loaded and root.
        """

    @OptionGroup var common: SeedOptions
    @Option(help: ArgumentHelp("Threads sending the same request.", valueName: "n"), transform: SeedOptions.count)
    var threads = 2000

    func check(_ run: SeedRun) -> Never { PageFaultMultithreadIoctl(run: run, threads: threads).main() }
}
