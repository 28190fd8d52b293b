// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// The `--report DIR` output: `report.md` (tables with the ratios to the
/// floor, the targets, how it was measured), `touch-time.svg` (the chart)
/// and `results.jsonl` (the `--json` lines).
struct BenchReport {
    let results: BenchRunner.Results
    let configuration: BenchConfiguration
    let environment: BenchEnvironment

    static let markdownName = "report.md"
    static let chartName = "touch-time.svg"
    static let jsonName = "results.jsonl"

    /// Writes the files into `directory` (created if missing).
    ///
    /// - Throws: the `Errno` of creating the directory or writing a file.
    func write(to directory: FilePath) throws(Errno) {
        if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
        let chart = BenchChart(results: results).svg
        try Self.write(markdown(hasChart: chart != nil), to: directory.appending(Self.markdownName))
        if let chart { try Self.write(chart, to: directory.appending(Self.chartName)) }
        try Self.write(BenchJSON.lines(results).joined(separator: "\n") + "\n", to: directory.appending(Self.jsonName))
    }

    private static func write(_ text: String, to path: FilePath) throws(Errno) {
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter { _ = try descriptor.writeAll(Array(text.utf8)) }
        }
    }

    /// The Markdown report.
    func markdown(hasChart: Bool) -> String {
        let tables = BenchTables(results)
        let lookup = BenchLookup(results)
        var out = "# batch-syscalls benchmarks\n\n"
        out += "Measured \(environment.summary), by `batch-syscalls-bench` (`make bench` runs it in the guest).\n\n"
        if environment.isGuest {
            out += """
                > Guest timings come from QEMU's TCG emulation: each instruction, fault and copy costs many \
                times what it costs on hardware, and not in the same proportions. They are meaningful only \
                as ratios between methods within one run.


                """
        }
        out += parameters
        out += "## The project's performance targets\n\n" + tables.targets.markdown + "\n"

        out += """
            ## Touch: every page read once, then written once

            \(BenchFormat.grouped(configuration.pages)) pages (\((configuration.pages * MemoryPage.size) >> 20) MiB), overlay \
            every other run of N pages; median of \(configuration.repetitions) runs, each in a new process. \
            *vs floor*: time over the floor's in the same cache state.


            """
        out += tables.touch.markdown + "\n"
        if hasChart { out += "![Touch time per page by method](\(Self.chartName))\n\n" }
        out += firstTouchSummary(lookup)
        out += """
            ## Setup only

            One-page segments, every other page of a mapping twice as long; median of \
            \(configuration.setupRepetitions) runs. *vs overlay*: setup time over the overlay's. Merge is not \
            run: it reads every page, so its setup grows with the pages (see the touch runs), not the segments.


            """
        out += tables.setup.markdown + "\n"

        if !results.sharing.isEmpty {
            let source = results.sharing.first(where: { !$0.samples.isEmpty })?.totalSource ?? "-"
            out += """
                ## Sharing

                Processes that each read every page of the same composed view \
                (\(BenchFormat.grouped(results.sharing[0].pages)) pages, N = \(results.sharing[0].fragmentation)): \
                one overlay created before the processes fork, against merge in each process. *total*: \(source) \
                while all processes hold their pages\(source.hasPrefix("meminfo") ? " (caches dropped first)" : ""); \
                *vs one*: over the same method's single process.


                """
            out += tables.sharing.markdown + "\n"
        }

        out += BenchRestoreTables(results: results.restores).markdown(fragmentation: configuration.restoreFragmentation)
        out += BenchReadyTables(outcome: results.ready).markdown
        out += methodNotes
        return out
    }

    /// The untimed first touches before the warm runs: each method's view
    /// over cached files, the overlay new (its own page cache empty).
    private func firstTouchSummary(_ lookup: BenchLookup) -> String {
        guard let floor = lookup.floor(cache: .warm), let floorFill = floor.warmupTouchNanoseconds,
              let floorTouch = floor.touchNanoseconds, floorTouch > 0 else { return "" }
        let pages = Double(configuration.pages)
        var parts = ["floor \(BenchFormat.perPage(Double(floorFill) / pages)) ns/page"]
        for fragmentation in lookup.fragmentations {
            guard let fill = lookup.touch(.overlay, fragmentation: fragmentation, cache: .warm)?
                .warmupTouchNanoseconds else { continue }
            parts.append("overlay N=\(fragmentation) \(BenchFormat.perPage(Double(fill) / pages)) ns/page "
                + "(\(BenchFormat.ratio(Double(fill) / Double(max(floorFill, 1)))) the floor's)")
        }
        return "First touch over cached files, the overlay new (the untimed touch before each warm run): "
            + parts.joined(separator: "; ") + ".\n\n"
    }

    /// The parameters of the run, one line.
    private var parameters: String {
        var parts = [
            "\(BenchFormat.grouped(configuration.pages)) pages",
            "N = " + configuration.fragmentations.map(String.init).joined(separator: ", "),
            "\(configuration.repetitions) runs a touch measurement (median)",
            "\(configuration.setupRepetitions) a setup-only one",
        ]
        if let cpu = configuration.cpu { parts.append("every run on CPU \(cpu)") }
        if configuration.primeMemory { parts.append("free memory touched once before") }
        if configuration.mapFixedMaxSegments != Int.max {
            parts.append("map-fixed setup-only runs up to \(BenchFormat.grouped(configuration.mapFixedMaxSegments)) segments")
        }
        if !configuration.restores.isEmpty {
            var restores = "restores of \(BenchFormat.grouped(configuration.restorePages)) pages by "
                + configuration.restores.map(String.init).joined(separator: ", ") + " processes ("
                + configuration.restoreKinds.map(\.rawValue).joined(separator: ", ") + ")"
            if configuration.restoreKinds.contains(.sparseOwnDiffs) {
                restores += ", sparse diffs " + configuration.restoreDirtyPercents.map(String.init).joined(separator: ", ")
                    + " % dirty, " + configuration.restoreTouchPercents.map(String.init).joined(separator: ", ")
                    + " % of the pages read"
            }
            parts.append(restores)
        }
        return "Parameters: " + parts.joined(separator: "; ") + ".\n\n"
    }

    private var methodNotes: String {
        var out = "## How it is measured\n\n"
        for method in BenchMethod.allCases {
            out += "- **\(method.rawValue)**: \(method.summary).\n"
        }
        out += """
            - *setup*: everything before the first touch (opening and mapping the files, the ioctl, the \
            mmap calls, registering userfaultfd and starting its thread, reading the files for merge and eager); the \
            segment list is input and built before.
            - *touch*: 8 bytes read from every page in order; *write*: then one byte written to every page \
            (a private file mapping copies the page; userfaultfd and merge pages are already anonymous).
            - *cold*: `sync; echo 3 > /proc/sys/vm/drop_caches` before setup. *warm*: the files were read \
            before; the views of floor, overlay and map-fixed were touched once, untimed, then \
            `MADV_DONTNEED` emptied their page tables, so the timed touch faults every page in from a \
            filled page cache (for the overlay, its own: as a second process mapping the same overlay \
            would); userfaultfd starts from the cached files (its handler's mappings new, as in a \
            restore), merge reads them.
            - *VMAs*: lines of /proc/self/maps overlapping the view. *RSS*, *anon*: growth of Rss and \
            Anonymous in /proc/self/smaps_rollup from before setup to after the read touch (userfaultfd's \
            includes its handler's mappings of both files). *cache*: growth of Cached in /proc/meminfo \
            over the same span (cold runs only; the overlay's includes the layers' pages it copies from).
            - Every page's first bytes name its file and page; each run's sum of them is checked against \
            the layout (a wrong page would show as WRONG CONTENTS).
            - Each run is a forked child process: clean VMAs and memory, nothing left for the next run.
              Runs of all methods alternate, repetition by repetition.

            """
        return out
    }
}
