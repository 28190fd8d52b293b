// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_benchmark: what setup and touching an overlaid mapping cost,
// against touching a plain mapping of the base file.
import Glibc
import SeedProgramSupport

/// A base file and an overlay file of the same size.
struct Dataset {
    let base: DataFile
    let overlay: DataFile
    var name: String { "\(base.name)/\(overlay.name)" }
}

/// The best (least) nanoseconds of each step over the repeats.
struct Timings {
    var setup: UInt64 = .max
    var floorFirstTouch: UInt64 = .max
    var overlayFirstTouch: UInt64 = .max
    var floorCachedTouch: UInt64 = .max
    var overlayCachedTouch: UInt64 = .max
}

/// Times the ioctl and the touch of every page of an overlaid mapping with
/// zebra fragmentation (every other run of N pages from the overlay file)
/// against the floor: a plain private mapping of the base file, every page
/// touched. First touch with the page cache dropped (root), then touch with
/// the pages cached (page tables dropped with MADV_DONTNEED); each the best
/// of R rounds.
/// Timings are printed, never judged (targets belong to benchmarks); a
/// sample of pages is checked, and a wrong page fails the run.
struct PageFaultBenchmark {
    let run: SeedRun
    let pageLimit: Int?
    let runLengths: [Int]
    let repeats: Int
    var report: TAPReporter { run.report }

    func main() -> Never {
        if !run.canDropCaches {
            report.skip("cold first touch", because: PageCache.cannotDropReason + "; first touches below find "
                        + "the page cache as it is")
        }
        for dataset in [Dataset(base: .base, overlay: .overlay), Dataset(base: .baseXL, overlay: .overlayXL)] {
            let missing = [dataset.base, dataset.overlay].filter { !run.data.exists($0) }
            guard missing.isEmpty else {
                let names = missing.map(\.name).joined(separator: " and ")
                report.skip(dataset.name, because: "\(names) not found in \(run.data.directory) "
                            + "(batch-syscalls sample-files --xl-pages N writes the XL files)")
                continue
            }
            for runLength in runLengths {
                measure(dataset, runLength: runLength)
            }
        }
        run.finish()
    }

    func measure(_ dataset: Dataset, runLength: Int) {
        let data = run.data
        let pages: Int
        do {
            pages = Swift.min(try data.pageCount(dataset.base), try data.pageCount(dataset.overlay),
                              pageLimit ?? .max)
        } catch {
            report.fail("\(dataset.name): stat: \(error)")
            return
        }
        let segments = SeedSegments.zebra(pages: pages, run: runLength)
        let label = "\(dataset.name), \(pages) pages, runs of \(runLength)"
        var timings = Timings()
        do {
            // First touches, best of `repeats` rounds, each on fresh
            // mappings and a fresh overlay; the last round's stay for the
            // cached touches and the check.
            var last: FirstTouchRound?
            for _ in 0..<repeats {
                last = nil  // unmaps the previous round's mappings (their pages can be dropped)
                let round = try firstTouchRound(dataset, pages: pages, segments: segments)
                timings.floorFirstTouch = Swift.min(timings.floorFirstTouch, round.floorFirstTouch)
                timings.setup = Swift.min(timings.setup, round.setup)
                timings.overlayFirstTouch = Swift.min(timings.overlayFirstTouch, round.overlayFirstTouch)
                last = consume round
            }
            guard let round = last.take() else { preconditionFailure("repeats is positive") }
            let floor = round.floor
            let overlay = round.overlay
            report.pass("\(label): overlay of \(segments.count) segments created")

            // Faults on cached pages: the page tables go, the page cache
            // (the base file's, the overlay's own) stays. The base file's
            // pages were dropped in the round: one unmeasured touch reads
            // them back.
            floor.touchEveryPage()
            for _ in 0..<repeats {
                try floor.dropPageTables()
                timings.floorCachedTouch = Swift.min(timings.floorCachedTouch,
                                                     Stopwatch.measure { floor.touchEveryPage() }.nanoseconds)
                try overlay.base.dropPageTables()
                timings.overlayCachedTouch = Swift.min(timings.overlayCachedTouch,
                                                       Stopwatch.measure { overlay.base.touchEveryPage() }.nanoseconds)
            }
            printTimings(timings, label: label, pages: pages, segments: segments.count)

            let sample = PageSample(of: overlay.base.filePages, count: 128)
            let verifier = data.verifier(base: dataset.base, overlay: dataset.overlay, segments: segments)
            let wrong = try sample.mismatches(in: overlay.base, verifier: verifier)
            let firstWrong = wrong.prefix(8).map(String.init).joined(separator: ", ")
            report.check(wrong.isEmpty, "\(label): \(sample.pages.count) sampled pages show the right file",
                         why: "\(wrong.count) wrong, first at pages \(firstWrong)")
            try overlay.remove()
        } catch {
            report.fail("\(label): \(error)")
        }
    }

    /// One round of first touches: the floor's, then the overlay's (with
    /// its setup), each after dropping the page cache when allowed.
    struct FirstTouchRound: ~Copyable {
        let floor: MappedFile
        let overlay: Overlay
        let floorFirstTouch: UInt64
        let setup: UInt64
        let overlayFirstTouch: UInt64
    }

    func firstTouchRound(_ dataset: Dataset, pages: Int, segments: SegmentList) throws -> FirstTouchRound {
        let floor = try run.data.map(dataset.base, pages: pages)
        try dropCaches()
        let floorFirstTouch = Stopwatch.measure { floor.touchEveryPage() }.nanoseconds
        // Pages the floor maps could not be dropped below: unmap them from
        // its page tables first.
        try floor.dropPageTables()

        // Dropped before the mappings are made, not between them and the
        // ioctl, so that the ioctl does not pay for refilling the slab
        // caches drop_caches shrank.
        try dropCaches()
        let base = try run.data.map(dataset.base, pages: pages)
        let layer = try run.data.map(dataset.overlay, pages: pages)
        let stopwatch = Stopwatch()
        let overlay = try run.device.overlay(base: base, layer: layer, segments: segments)
        let setup = stopwatch.elapsedNanoseconds
        let overlayFirstTouch = Stopwatch.measure { overlay.base.touchEveryPage() }.nanoseconds
        return FirstTouchRound(floor: floor, overlay: overlay, floorFirstTouch: floorFirstTouch, setup: setup,
                               overlayFirstTouch: overlayFirstTouch)
    }

    /// Drops the page cache when allowed, so that the next touch is a cold
    /// first touch.
    func dropCaches() throws(Errno) {
        if run.canDropCaches { try PageCache.drop() }
    }

    func printTimings(_ timings: Timings, label: String, pages: Int, segments: Int) {
        let caches = run.canDropCaches ? "cold caches" : "caches as found"
        let first = "first touch, \(caches) (best of \(repeats))"
        report.diagnostic("\(label): setup (one ioctl, \(segments) segments, best of \(repeats)) \(timings.setup) ns, "
                    + "\(NumberFormat.perItem(timings.setup, segments)) ns/segment")
        report.diagnostic("\(label): \(first): floor \(NumberFormat.perItem(timings.floorFirstTouch, pages)) ns/page, "
                    + "overlay \(NumberFormat.perItem(timings.overlayFirstTouch, pages)) ns/page, "
                    + "ratio \(NumberFormat.ratio(timings.overlayFirstTouch, timings.floorFirstTouch))")
        report.diagnostic("\(label): touch, pages cached (best of \(repeats)): "
                    + "floor \(NumberFormat.perItem(timings.floorCachedTouch, pages)) ns/page, "
                    + "overlay \(NumberFormat.perItem(timings.overlayCachedTouch, pages)) ns/page, "
                    + "ratio \(NumberFormat.ratio(timings.overlayCachedTouch, timings.floorCachedTouch))")
    }
}

/// `page_fault_benchmark`: its options and help; the checks are ``PageFaultBenchmark``'s.
@main
struct PageFaultBenchmarkCommand: SeedProgram {
    static let abstract = """
        What setup and touching an overlaid mapping cost, against touching a plain mapping of the base file.
        """
    static let details = """
        Times laying every other run of N pages of the overlay file over a \
        private mapping of the base file (zebra fragmentation, one ioctl) and \
        touching every page of it, against the floor: touching every page of \
        a plain private mapping of the base file. Measures the first touch \
        after `echo 3 > /proc/sys/vm/drop_caches` (root; each round on fresh \
        mappings and a fresh overlay) and the touch of cached pages (page \
        tables dropped with MADV_DONTNEED), each the best of R rounds, and \
        prints ns/page and the ratio to the floor; timings are not judged. \
        A sample of pages of each overlaid mapping is compared with the files; \
        a wrong page fails the run. Uses base.bin/overlay.bin, then \
        baseXL.bin/overlayXL.bin when present (skipped otherwise). Needs the \
        module loaded and root.
        """

    @OptionGroup var common: SeedOptions
    @Option(help: ArgumentHelp("Use only the first N pages of each file (default: all).", valueName: "n"),
            transform: SeedOptions.count)
    var pages: Int?
    @Option(name: .customLong("run"),
            help: ArgumentHelp("Fragmentations: runs of N pages alternate between overlay and base (comma-separated).",
                               valueName: "n,n,..."),
            transform: SeedOptions.counts)
    var runLengths = [1, 10]
    @Option(name: .customLong("repeat"), help: ArgumentHelp("Rounds of each measurement; the best counts.", valueName: "r"),
            transform: SeedOptions.count)
    var repeats = 3

    func check(_ run: SeedRun) -> Never {
        PageFaultBenchmark(run: run, pageLimit: pages, runLengths: runLengths, repeats: repeats).main()
    }
}
