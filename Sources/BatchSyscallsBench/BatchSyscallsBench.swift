// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import CBatchSyscallsBench
import Glibc
import GuestTestKit
import SystemPackage

/// `batch-syscalls-bench`: this module against what users would do without
/// it, on the same files in the same run. A program of its own, not part
/// of the `batch-syscalls` tool (whose `bench` runs it).
@main
struct BatchSyscallsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-syscalls-bench",
        abstract: "Measure overlays against a plain mmap, MAP_FIXED per segment, userfaultfd and a merged copy.",
        discussion: """
            Methods, each composing the same base and overlay files (the overlay serves every other \
            run of N pages):
              floor        \(BenchMethod.floor.summary)
              overlay      \(BenchMethod.overlay.summary)
              map-fixed    \(BenchMethod.mapFixed.summary)
              userfaultfd  \(BenchMethod.userfaultfd.summary)
              merge        \(BenchMethod.merge.summary)
              eager        \(BenchMethod.eager.summary) (only when named)

            For each: setup time (everything before the first touch), touch time (every page read \
            once, then written once), cold (caches dropped: root only, else reported as skipped) and \
            warm, VMAs and resident memory; setup-only runs with many segments; and the memory of \
            several processes sharing one overlay against as many merged copies; and restores as \
            platforms make them (--restores: P processes, each composing the view itself and reading \
            every page; memory of all P, first touch of the first and of later restores); and a \
            snapshot chain (a base and --chain-diffs sparse diffs of --chain-extents one-page extents \
            each) restored with one v2 request (data extents, or segment lists), one v1 request per \
            diff, mmap(MAP_FIXED) per extent and a merged copy: setup and first touch, files cached \
            and cold; and the time to ready (--ready-pages: a base, three sparse diffs, a recorded loading \
            set of a 25 % working set): each of floor, floor+willneed, map-fixed, uffd-prefetch, overlay, \
            overlay+loading-set and overlay+loading-set+populate timed until the working set is read, cold \
            and warm, with faults and disk reads. Each run is a child process of its own; the numbers are medians.

            Without /dev/batch_syscalls the overlay method is reported as unavailable and the others \
            still run. The data files (2 x pages x 4 KiB) are written into --dir unless they are \
            there already.

            EXAMPLES:
              Everything, with a report (as root, the module loaded):
                batch-syscalls-bench --report bench-report

              A small, quick run of two methods, as JSON:
                batch-syscalls-bench --pages 4096 --methods overlay,map-fixed \\
                    --caches warm --fragmentations 1 --setup-segments 1000 --json

              What `make bench` runs in the QEMU guest:
                batch-syscalls-bench --pages 32768 --report report --cpu 0 --prime-memory \\
                    --map-fixed-max-segments 50000 --sharing-repetitions 1
            """
    )

    @Option(help: "Pages of the mapping (each data file is this many pages).")
    var pages = 65536

    @Option(help: ArgumentHelp("Fragmentations N: the overlay serves every other run of N pages (default: 1,10,100).",
                               valueName: "n,n,..."),
            transform: BatchSyscallsBench.integers)
    var fragmentations: [Int] = [1, 10, 100]

    @Option(help: ArgumentHelp("Segment counts of the setup-only runs, '' for none (default: 1000,50000,1000000).",
                               valueName: "n,n,..."),
            transform: BatchSyscallsBench.integers)
    var setupSegments: [Int] = [1_000, 50_000, 1_000_000]

    @Option(name: [.short, .long], help: "Runs of each measurement; the median is reported.")
    var repetitions = 5

    @Option(help: "Runs of each setup-only measurement (default: --repetitions).")
    var setupRepetitions: Int?

    @Option(help: ArgumentHelp("Methods to run (default: all but eager; the restores' fan-out runs eager too).",
                               valueName: "method,..."),
            transform: BatchSyscallsBench.methods)
    var methods: [BenchMethod] = BenchMethod.defaultCases

    @Option(help: ArgumentHelp("Cache states to run: cold, warm (default: both).", valueName: "state,..."),
            transform: BatchSyscallsBench.caches)
    var caches: [BenchCache] = BenchCache.allCases

    @Option(help: "Skip setup-only map-fixed runs with more segments than this (default: none skipped).")
    var mapFixedMaxSegments: Int?

    @Option(help: "Runs of each sharing measurement.")
    var sharingRepetitions = 3

    @Flag(help: "Touch most free memory once before measuring (for emulated guests, whose RAM the host backs on first use).")
    var primeMemory = false

    @Option(help: "Processes of the sharing measurement (0: none).")
    var sharingProcesses = 8

    @Option(help: "Pages each sharing process maps (at most --pages).")
    var sharingPages = 16384

    @Option(help: ArgumentHelp("""
        Process counts of the restore measurements, '' for none (default: 1,8): each process maps the files \
        itself, composes the view with each method and reads every page; the same snapshot in every process \
        (template), and each process its own diff over one base (own diffs).
        """, valueName: "n,n,..."), transform: BatchSyscallsBench.integers)
    var restores: [Int] = [1, 8]

    @Option(help: "Pages of each restored view (at most --pages; own diff files have this size).")
    var restorePages = 4096

    @Option(help: ArgumentHelp("""
        Restore cases to run (default: all): template, own-diffs (each process its own diff serving every \
        other page), sparse-own-diffs (each process its own sparse diff of short dirty runs over one base: \
        the fleet case; the eager method is meant for it).
        """, valueName: "case,..."), transform: BatchSyscallsBench.restoreKinds)
    var restoreKinds: [BenchRestoreKind] = BenchRestoreKind.allCases

    @Option(help: ArgumentHelp("""
        Sparse own diffs: per cent of each view's pages dirty (in runs of 1 to 8 pages; each 1 ... 50); a list \
        runs the fan-out matrix, every dirty share with every touch share (default: 1,5,20).
        """, valueName: "n,n,..."), transform: BatchSyscallsBench.integers)
    var restoreDirtyPercent: [Int] = [1, 5, 20]

    @Option(help: ArgumentHelp("""
        Sparse own diffs: per cent of the pages each process reads, chosen at random per process (each 1 ... 100; \
        default: 25,100).
        """, valueName: "n,n,..."), transform: BatchSyscallsBench.integers)
    var restoreTouchPercent: [Int] = [25, 100]

    @Option(help: """
        Sparse own diffs: MiB of the guest's memory to leave free. A method whose estimated memory at some P \
        exceeds what is available less this is not run there (reported with the memory it would need): \
        anonymous views beyond memory end in the OOM killer, file pages beyond it in reclaim that falsifies \
        the count.
        """)
    var restoreMemoryMargin = 256

    @Option(help: "Seconds one run may take before it is killed and reported as failed.")
    var timeout = 300

    @Option(help: ArgumentHelp("""
        Run every measurement on this CPU only (all methods alike). In an emulated guest a wakeup \
        across CPUs costs hundreds of microseconds, which would swamp userfaultfd's handler round trips.
        """, valueName: "n"))
    var cpu: Int?

    @Option(help: "Diffs of the snapshot chain case (one v2 request against v1 per diff, map-fixed and merge); 0: none.")
    var chainDiffs = 10

    @Option(help: "One-page data extents in each diff of the chain case.")
    var chainExtents = 10_000

    @Option(help: "Runs of each chain measurement.")
    var chainRepetitions = 3

    @Option(help: """
        Pages of the time-to-ready case's base (0: none): three sparse diffs over it, a working set of 25 % of \
        the pages in 1,000 clusters whose loading set is recorded, each method timed until the working set is read.
        """)
    var readyPages = 262_144

    @Option(help: "Runs of each time-to-ready measurement (default: --repetitions).")
    var readyRepetitions: Int?

    @Option(help: "Directory of the data files.")
    var dir = "bench-data"

    @Flag(help: "Print one JSON object per measurement (one a line) instead of the tables.")
    var json = false

    @Option(help: ArgumentHelp("Also write report.md, touch-time.svg and results.jsonl into this directory.",
                               valueName: "dir"))
    var report: String?

    @Flag(help: "Only write the data files, then exit (to prepare them outside a guest).")
    var prepare = false

    @Flag(name: [.short, .long], help: "No progress lines on stderr.")
    var quiet = false

    func validate() throws {
        guard pages >= 2 else { throw ValidationError("--pages must be at least 2") }
        guard !fragmentations.isEmpty, fragmentations.allSatisfy({ $0 >= 1 && ($0 < pages || prepare) }) else {
            throw ValidationError("--fragmentations: each N must be at least 1 and below --pages")
        }
        guard setupSegments.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) else {
            throw ValidationError("--setup-segments: each count must be 1 ... 1,048,576 (the module's limit)")
        }
        guard repetitions >= 1, (setupRepetitions ?? 1) >= 1, sharingRepetitions >= 1 else {
            throw ValidationError("repetitions must be at least 1")
        }
        guard sharingProcesses >= 0, sharingPages >= 2 else {
            throw ValidationError("--sharing-processes must be 0 or more, --sharing-pages at least 2")
        }
        guard restores.allSatisfy({ $0 >= 1 && $0 <= 1024 }), restorePages >= 2 else {
            throw ValidationError("--restores: each count must be 1 ... 1024; --restore-pages at least 2")
        }
        guard !restoreDirtyPercent.isEmpty, restoreDirtyPercent.allSatisfy({ (1...50).contains($0) }),
              !restoreTouchPercent.isEmpty, restoreTouchPercent.allSatisfy({ (1...100).contains($0) }) else {
            throw ValidationError("--restore-dirty-percent: each 1 ... 50; --restore-touch-percent: each 1 ... 100")
        }
        guard restoreMemoryMargin >= 0 else { throw ValidationError("--restore-memory-margin must be 0 or more") }
        guard (cpu ?? 0) >= 0 else { throw ValidationError("--cpu must be a CPU number") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
        guard (0...255).contains(chainDiffs), chainExtents >= 1, chainExtents <= 1 << 20, chainRepetitions >= 1 else {
            throw ValidationError("--chain-diffs must be 0 to 255, --chain-extents 1 to 1,048,576, --chain-repetitions at least 1")
        }
        guard readyPages == 0 || readyPages >= 4096, (readyRepetitions ?? 1) >= 1 else {
            throw ValidationError("--ready-pages must be 0 or at least 4096, --ready-repetitions at least 1")
        }
    }

    func run() throws {
        var configuration = BenchConfiguration()
        configuration.pages = pages
        configuration.fragmentations = fragmentations
        configuration.setupSegments = setupSegments
        configuration.repetitions = repetitions
        configuration.setupRepetitions = setupRepetitions ?? repetitions
        configuration.methods = BenchMethod.allCases.filter(methods.contains)
        // The default set (eager left out of the other cases) gets eager in the fan-out.
        configuration.fanOutMethods = methods == BenchMethod.defaultCases ? BenchMethod.allCases : configuration.methods
        configuration.caches = caches
        configuration.mapFixedMaxSegments = mapFixedMaxSegments ?? Int.max
        configuration.sharingRepetitions = sharingRepetitions
        configuration.primeMemory = primeMemory
        configuration.sharingProcesses = sharingProcesses
        configuration.sharingPages = min(sharingPages, pages)
        configuration.sharingFragmentation = min(10, max(1, configuration.sharingPages / 2 - 1))
        configuration.timeout = timeout
        configuration.cpu = cpu
        configuration.directory = FilePath(dir)
        configuration.restores = restores
        configuration.restorePages = min(restorePages, pages)
        configuration.restoreKinds = BenchRestoreKind.allCases.filter(restoreKinds.contains)
        configuration.restoreDirtyPercents = Array(Set(restoreDirtyPercent)).sorted()
        configuration.restoreTouchPercents = Array(Set(restoreTouchPercent)).sorted()
        configuration.restoreMemoryMarginKiB = restoreMemoryMargin * 1024
        configuration.chainDiffs = chainDiffs
        configuration.chainExtents = chainExtents
        configuration.chainRepetitions = chainRepetitions
        configuration.readyPages = readyPages
        configuration.readyRepetitions = readyRepetitions ?? repetitions

        let quiet = self.quiet
        let started = Stopwatch.now()
        let log: (String) -> Void = { line in
            guard !quiet else { return }
            let seconds = Double(Stopwatch.now() - started) / 1e9
            let stamp = BenchFormat.fixed(seconds, digits: 1)
            OutputLine.write("bench: [\(String(repeating: " ", count: max(0, 6 - stamp.count)))\(stamp) s] \(line)", to: OutputLine.standardError)
        }
        let runner = BenchRunner(configuration: configuration, log: log)
        if prepare {
            do {
                try runner.files.prepare(log: log)
                try runner.restoreFiles.prepare(log: log)
                if chainDiffs > 0 { try BenchChain(configuration: configuration, log: log).files.prepare(log: log) }
                if readyPages > 0 { try BenchReady(configuration: configuration, log: log).files.prepare(log: log) }
            } catch {
                throw BenchError.call("writing the data files in \(dir)", error)
            }
            return
        }

        if let cpu {
            guard bench_pin_to_cpu(UInt32(cpu)) == 0 else {
                throw BenchError.call("pinning to CPU \(cpu)", .current)
            }
        }
        let environment = BenchEnvironment.current()
        log("\(environment.summary)")
        let start = Stopwatch.now()
        let results = try runner.run()
        log("done in \(BenchFormat.duration(Stopwatch.now() - start))")

        if json {
            for line in BenchJSON.lines(results) { print(line) }
        } else {
            print(BatchSyscallsBench.tables(results, environment: environment), terminator: "")
        }
        if let report {
            do {
                try BenchReport(results: results, configuration: configuration, environment: environment)
                    .write(to: FilePath(report))
            } catch {
                throw BenchError.call("writing the report into \(report)", error)
            }
            log("report written to \(report)/\(BenchReport.markdownName)")
        }
    }

    /// The human tables: touch, setup-only, sharing, targets.
    static func tables(_ results: BenchRunner.Results, environment: BenchEnvironment) -> String {
        let tables = BenchTables(results)
        var out = "batch-syscalls-bench: \(environment.summary)\n"
        if environment.isGuest { out += "(guest TCG timings are meaningful only as ratios within this run)\n" }
        out += "\nTouch (median; vs floor: time over the floor's, same cache state)\n" + tables.touch.text
        if !results.setup.isEmpty { out += "\nSetup only (one-page segments)\n" + tables.setup.text }
        if !results.sharing.isEmpty { out += "\nSharing (memory of processes reading every page)\n" + tables.sharing.text }
        if !results.restores.isEmpty {
            let restores = BenchRestoreTables(results: results.restores)
            if !restores.table.rows.isEmpty {
                out += "\nRestores (P processes each composing the view and reading every page)\n" + restores.table.text
            }
            let fanOut = BenchFanOutTables(results: results.restores)
            if !fanOut.results.isEmpty {
                out += "\nFan-out: sparse own diffs (P restores over one base, each its own diff; caches dropped first)\n"
                    + fanOut.table.text
            }
        }
        if !results.chain.isEmpty {
            out += "\nSnapshot chain (a base and sparse diffs of one-page extents; median)\n" + BenchChain.table(results.chain).text
        }
        if !results.ready.results.isEmpty {
            let ready = BenchReadyTables(outcome: results.ready)
            out += "\nTime to ready (\(ready.summary); median; vs floor: over the floor's, same cache state)\n"
                + ready.table.text
        }
        out += "\nThe project's performance targets\n" + tables.targets.text
        return out
    }

    // MARK: Parsing lists

    static func integers(_ text: String) throws -> [Int] {
        if text.isEmpty { return [] }
        return try text.split(separator: ",").map { item in
            let digits = item.filter { $0 != "_" }
            guard let value = Int(digits) else { throw ValidationError("'\(item)' is not a number") }
            return value
        }
    }

    static func methods(_ text: String) throws -> [BenchMethod] {
        try text.split(separator: ",").map { item in
            guard let method = BenchMethod(rawValue: String(item)) else {
                throw ValidationError("unknown method '\(item)' (\(BenchMethod.allValueStrings.joined(separator: ", ")))")
            }
            return method
        }
    }

    static func restoreKinds(_ text: String) throws -> [BenchRestoreKind] {
        try text.split(separator: ",").map { item in
            guard let kind = BenchRestoreKind.allCases.first(where: { $0.argument == item }) else {
                throw ValidationError("unknown restore case '\(item)' (\(BenchRestoreKind.allCases.map(\.argument).joined(separator: ", ")))")
            }
            return kind
        }
    }

    static func caches(_ text: String) throws -> [BenchCache] {
        try text.split(separator: ",").map { item in
            guard let cache = BenchCache(rawValue: String(item)) else {
                throw ValidationError("unknown cache state '\(item)' (cold, warm)")
            }
            return cache
        }
    }
}
