// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_multithread_own_overlays: many threads, each with its own
// overlay (the scenario page_fault_multithread_ioctl ran before it asserted
// the seed's own: many threads sending one request).
import Glibc
import SeedProgramSupport
import Synchronization

/// What one thread did with its own overlay.
struct ThreadOutcome: Sendable {
    var segments: SegmentList
    /// Why the thread's mappings failed, if they did.
    var mapping: Errno?
    var id: Result<OverlayID, OverlayError>?
    var verification: Result<OverlayVerifier.Report, Errno>?
    var cleanup: Result<Void, OverlayError>?
}

/// Each thread's outcome, filled in by the threads.
final class ThreadOutcomes: Sendable {
    let slots: Mutex<[ThreadOutcome]>
    init(_ outcomes: [ThreadOutcome]) { slots = Mutex(outcomes) }
}

/// N threads each map base.bin and overlay.bin and make their own request
/// on the shared device at the same moment, then verify their own mapping
/// and clean up: the module's registry and request path under concurrency.
/// Each thread adds a segment of its own to the seed's example, so a thread
/// that got another's table would show it.
struct PageFaultMultithreadOwnOverlays {
    let run: SeedRun
    let threads: Int
    var report: TAPReporter { run.report }

    func main() -> Never {
        let pageCount: Int
        do {
            pageCount = try run.data.pageCount(.base)
        } catch {
            report.fail("stat base.bin: \(error)")
            run.finish()
        }
        let threadSegments = (0..<threads).map { segments(forThread: $0, pages: pageCount) }
        let outcomes = ThreadOutcomes(threadSegments.map { ThreadOutcome(segments: $0) })
        let data = run.data
        let device = run.device
        do {
            try ThreadGroup.run(threads) { member in
                let outcome = Self.work(member, data: data, device: device, segments: threadSegments[member.index])
                outcomes.slots.withLock { $0[member.index] = outcome }
            }
        } catch {
            report.fail("starting \(threads) threads: pthread_create: \(error)")
            run.finish()
        }
        let results = outcomes.slots.withLock { $0 }
        for (index, outcome) in results.enumerated() {
            record(outcome, thread: index)
        }
        let ids = results.compactMap { try? $0.id?.get() }
        report.check(Set(ids).count == ids.count, "the \(ids.count) ids the module gave are distinct")
        run.finish()
    }

    /// The seed's example plus a short run of pages of the thread's own.
    func segments(forThread index: Int, pages: Int) -> SegmentList {
        let first = 150 + index % Swift.max(1, pages - 160)
        // Valid: the example's pages and one more non-negative range.
        return SegmentList(trusted: SeedSegments.example.ranges + [first...(first + index % 3)])
    }

    /// One thread's part: its mappings, its request (lined up with the
    /// other threads'), its verification and its cleanup.
    static func work(_ member: ThreadGroup.Member, data: SeedData, device: OverlayDevice,
                     segments: SegmentList) -> ThreadOutcome {
        var outcome = ThreadOutcome(segments: segments)
        let mappings = Result { () throws(Errno) in (try data.map(.base), try data.map(.overlay)) }
        // Every thread reaches the barrier, mapped or not, or the others
        // would wait forever.
        member.waitForAll()
        let base: MappedFile, layer: MappedFile
        switch mappings {
        case .success(let pair):
            (base, layer) = pair
        case .failure(let error):
            outcome.mapping = error
            return outcome
        }
        let overlay: Overlay
        do {
            overlay = try device.overlay(base: base, layer: layer, segments: segments)
            outcome.id = .success(overlay.id)
        } catch {
            outcome.id = .failure(error)
            return outcome
        }
        let verifier = data.verifier(segments: segments)
        let mapping = overlay.base
        outcome.verification = Result { () throws(Errno) in try verifier.verify(mapping) }
        do {
            try overlay.remove()
            outcome.cleanup = .success(())
        } catch {
            outcome.cleanup = .failure(error)
        }
        return outcome
    }

    func record(_ outcome: ThreadOutcome, thread index: Int) {
        let label = "thread \(index) (segments \(SeedSegments.describe(outcome.segments)))"
        if let error = outcome.mapping {
            report.fail("\(label): map base.bin and overlay.bin: \(error)")
            return
        }
        switch outcome.id {
        case .none:
            report.fail("\(label): did not run")
            return
        case .failure(let error)?:
            report.fail("\(label): overlay: \(error)")
            return
        case .success(let id)?:
            report.pass("\(label): overlay created, id \(id)")
        }
        if let verification = outcome.verification {
            report.record(verification, of: run.data.verifier(segments: outcome.segments),
                          "thread \(index): its mapping shows the right file on every page")
        }
        if case .failure(let error)? = outcome.cleanup {
            report.fail("thread \(index): cleanup: \(error)")
        } else {
            report.pass("thread \(index): cleanup")
        }
    }
}

/// `page_fault_multithread_own_overlays`: its options and help; the checks are ``PageFaultMultithreadOwnOverlays``'s.
@main
struct PageFaultMultithreadOwnOverlaysCommand: SeedProgram {
    static let abstract = "Many threads, each with its own overlay, requesting at the same moment."
    static let details = """
        Starts N threads together. Each maps base.bin (MAP_PRIVATE) and \
        overlay.bin, waits until all threads have, then makes its own create \
        request on the shared /dev/batch_syscalls descriptor (the seed's example \
        segments plus a few pages of its own), verifies every page of its own \
        mapping against the files, cleans its id up and unmaps. Checks each \
        thread's steps and that the ids are distinct. Needs the module loaded \
        and root.
        """

    @OptionGroup var common: SeedOptions
    @Option(help: ArgumentHelp("Threads, each with its own overlay.", valueName: "n"), transform: SeedOptions.count)
    var threads = 16

    func check(_ run: SeedRun) -> Never { PageFaultMultithreadOwnOverlays(run: run, threads: threads).main() }
}
