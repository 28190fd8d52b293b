// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_multithread: first touches of one overlay from many threads.
import Glibc
import SeedProgramSupport

/// One overlay; N threads take the first faults of its pages at the same
/// time, interleaved (thread t touches pages t, t+N, t+2N, ...), so that
/// neighbouring pages, which the kernel reads in one readahead batch or
/// maps in one fault-around, are faulted by different threads at once.
/// Then every page is checked.
struct PageFaultMultithread {
    let run: SeedRun
    let threads: Int
    let segments = SeedSegments.example
    var report: TAPReporter { run.report }

    func main() -> Never {
        round("page cache as found", cold: false)
        if run.canDropCaches {
            round("cold cache", cold: true)
        } else {
            report.skip("cold cache: concurrent first touch after drop_caches", because: PageCache.cannotDropReason)
        }
        run.finish()
    }

    func round(_ label: String, cold: Bool) {
        let verifier = run.data.verifier(segments: segments)
        let overlay: Overlay
        do {
            let base = try run.data.map(.base)
            overlay = try run.device.overlay(base: base, layer: try run.data.map(.overlay), segments: segments)
            report.pass("\(label): overlay of segments \(SeedSegments.describe(segments)) over base.bin "
                        + "(\(base.pageCount) pages), id \(overlay.id)")
        } catch {
            report.fail("\(label): overlay over base.bin: \(error)")
            return
        }
        if cold {
            do {
                try PageCache.drop()
            } catch {
                report.fail("\(label): drop_caches: \(error)")
                return
            }
        }

        let mapping = overlay.base
        let pages = mapping.pageCount
        let count = threads
        do {
            try ThreadGroup.run(count) { member in
                mapping.touchPages(stride(from: member.index, to: pages, by: count))
            }
            report.pass("\(label): \(count) threads took the first faults of \(pages) pages at once, interleaved")
        } catch {
            report.fail("\(label): starting \(count) threads: pthread_create: \(error)")
            return
        }
        // Every page is mapped now, with what the concurrent faults put
        // there: comparing it with the files checks each of those faults.
        report.verify(mapping, with: verifier, "\(label): every page shows the right file after the threads' faults")
        report.remove("\(label): cleanup of id \(overlay.id)", overlay)
    }
}

/// `page_fault_multithread`: its options and help; the checks are ``PageFaultMultithread``'s.
@main
struct PageFaultMultithreadCommand: SeedProgram {
    static let abstract = "First touches of one overlay from many threads."
    static let details = """
        Lays the seed's example segments of overlay.bin over a private mapping \
        of base.bin, then starts N threads together; thread t touches pages \
        t, t+N, t+2N, ... (its first touch of each page is the page's first \
        fault), so neighbouring pages are faulted by different threads at the \
        same time. After the threads are joined, every page is compared with \
        the files. Runs with the page cache as found, then (root only) again \
        after `echo 3 > /proc/sys/vm/drop_caches`. Needs the module loaded \
        and root.
        """

    @OptionGroup var common: SeedOptions
    @Option(help: ArgumentHelp("Threads touching pages.", valueName: "n"), transform: SeedOptions.count)
    var threads = 16

    func check(_ run: SeedRun) -> Never { PageFaultMultithread(run: run, threads: threads).main() }
}
