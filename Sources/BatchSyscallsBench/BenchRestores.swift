// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// Restores as platforms make them: P processes, started one after the
/// other, each mapping the files itself, composing the view with one method
/// and reading every page (its first touch, timed), then holding the view.
/// Once all hold theirs, the memory is counted: the page cache's and
/// anonymous memory's growth since the start (after dropping caches when
/// cold, so everything is counted), each process's Pss, and for the module
/// how many overlays the processes' requests map.
///
/// One after the other, so that the first restore's touch and a later
/// one's can be told apart: a later restore finds the files, and for a
/// shared overlay its page cache, already filled.
struct BenchRestores {
    let benchCase: BenchRestoreCase
    let files: BenchRestoreFiles
    let layout: BenchLayout

    /// Runs the measurement in the calling process (a child of the bench).
    func run() throws(BenchError) -> BenchRestoreSample {
        switch benchCase.cache {
        case .cold:
            do {
                try PageCache.drop()
            } catch {
                throw .skipped("cannot drop caches: \(error.name)")
            }
        case .warm:
            do {
                try files.warm(benchCase)
            } catch {
                throw .call("reading the files", error)
            }
        }
        let before = BenchSystem.memoryInfo()
        // Released, waited for and closed when it goes, on every path.
        let workers = try BenchWorkers()
        let results = workers.reports
        var sample = BenchRestoreSample()
        for index in 0..<benchCase.processes {
            try workers.start { worker(index, results: results.writeEnd, workers: workers) }
            // Wait for this restore before the next one starts.
            let line = readLine(results.readEnd)
            let fields = line.split(separator: " ")
            guard fields.count == 6, fields[0] == "ok", let setup = UInt64(fields[1]), let touch = UInt64(fields[2]),
                  let faults = Int(fields[4]), let anonymous = Int(fields[5]) else {
                let reason = line.hasPrefix("error ") ? String(line.dropFirst(6)) : "restore \(index + 1) ended without a result"
                throw .failed("restore \(index + 1): \(reason)")
            }
            sample.setupNanoseconds.append(setup)
            sample.touchNanoseconds.append(touch)
            sample.faults.append(faults)
            sample.viewAnonymousKiB += anonymous
            if fields[3] != "match" { sample.contentsMatch = false }
        }
        workers.allStarted()

        let after = BenchSystem.memoryInfo()
        if let cachedBefore = before["Cached"], let cachedAfter = after["Cached"] {
            sample.cacheKiB = cachedAfter - cachedBefore
        }
        if let anonBefore = before["AnonPages"], let anonAfter = after["AnonPages"] {
            sample.systemAnonymousKiB = anonAfter - anonBefore
        }
        for worker in workers.processes {
            if let memory = BenchProcessMemory.of(worker.id) { sample.pssKiB += memory.pss }
        }
        if benchCase.method == .overlay, let listed = try? LiveOverlay.all() {
            let mine = listed.filter { workers.processes.contains(ChildProcess(id: pid_t($0.processID))) }
            sample.overlays = Set(mine.map(\.overlayNumber)).count
        }
        return sample
    }

    /// One restore, in its own process: sets up, reads every page, reports
    /// `ok <setup ns> <touch ns> match|mismatch <faults> <anonymous KiB>`
    /// (or `error <reason>`): the touch's page faults (minor and major),
    /// and the growth of the process's anonymous memory from before setup
    /// to after the touch: the view's, not the memory of the bench process
    /// it was forked from (which copy-on-write charges to each child).
    /// then holds the view until the release pipe closes.
    private func worker(_ index: Int, results: CInt, workers: BenchWorkers) -> Never {
        var line: String
        var region: BenchRegion?
        do throws(BenchError) {
            let anonymousBefore = BenchProcessMemory.of()?.anonymous ?? 0
            let input = try files.input(benchCase, index: index, layout: layout)
            // The sparse case may read a random part of the view (the pages chosen before the clock starts).
            let sparse = benchCase.kind == .sparseOwnDiffs
            let diffs = files.sparse(benchCase)
            let touched = sparse ? diffs.touchedPages(index) : nil
            let start = Stopwatch.now()
            region = try benchCase.method.setUp(input)
            let setup = Stopwatch.now() - start
            let composed = benchCase.method.composesLayers
            let expected = sparse ? diffs.expectedChecksum(index, composed: composed)
                : BenchDataFiles.expectedChecksum(layout: layout, composed: composed)
            var sum: UInt64 = 0
            let faultsBefore = Self.faults()
            let touch = Stopwatch.nanoseconds {
                if let touched { sum = BenchTouch.read(region!.address, pages: touched) }
                else { sum = BenchTouch.read(region!.address, pages: region!.pages) }
            }
            let faults = Self.faults() - faultsBefore
            let anonymous = (BenchProcessMemory.of()?.anonymous ?? 0) - anonymousBefore
            line = "ok \(setup) \(touch) \(sum == expected ? "match" : "mismatch") \(faults) \(anonymous)"
        } catch {
            line = "error \(error.reason)"
        }
        OutputLine.write(line.replacingNewlines, to: results)
        close(results)
        // Hold the view until the parent has counted the memory.
        withExtendedLifetime(region) { workers.holdUntilReleased() }
    }

    /// Page faults of this process so far (minor and major).
    private static func faults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_minflt + usage.ru_majflt
    }

    /// One line from `descriptor` (without its newline); empty at end of file.
    private func readLine(_ descriptor: CInt) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension String {
    var replacingNewlines: String { String(map { $0 == "\n" ? " " : $0 }) }
}

/// What one restore measurement found.
struct BenchRestoreSample: Sendable {
    /// Each restore's setup and first touch (every page read once), in
    /// the order the restores ran.
    var setupNanoseconds: [UInt64] = []
    var touchNanoseconds: [UInt64] = []
    /// Each restore's page faults while reading every page.
    var faults: [Int] = []
    /// Growth of /proc/meminfo `Cached` while all hold their views, KiB.
    var cacheKiB: Int?
    /// Sum of the processes' anonymous memory growth from setup to the
    /// end of their touch (the views' anonymous memory), KiB.
    var viewAnonymousKiB = 0
    /// Growth of /proc/meminfo `AnonPages` over the same span: the views'
    /// plus what each forked process copies of the bench's own memory.
    var systemAnonymousKiB: Int?
    /// Sum of the processes' Pss, KiB.
    var pssKiB = 0
    /// Overlays the processes' requests map (the module's listing).
    var overlays: Int?
    var contentsMatch = true

    /// Page cache plus the views' anonymous memory.
    var totalKiB: Int? { cacheKiB.map { $0 + viewAnonymousKiB } }

    /// The fastest later restore's first touch: host load on an emulated
    /// guest only ever slows a run down, so the minimum of the later
    /// restores is the steadiest figure of what a later touch costs.
    var fastestLaterTouch: UInt64? { touchNanoseconds.dropFirst().min() }

    /// A later restore's faults: the median of all but the first.
    var laterFaults: Int? { benchMedian(Array(faults.dropFirst())) }

    /// Setup and first touch across the P restores: the median and the
    /// 95th percentile (nearest rank: with fewer than 20 restores, the
    /// slowest).
    var setupP50: UInt64? { benchMedian(setupNanoseconds) }
    var setupP95: UInt64? { benchPercentile(setupNanoseconds, 95) }
    var touchP50: UInt64? { benchMedian(touchNanoseconds) }
    var touchP95: UInt64? { benchPercentile(touchNanoseconds, 95) }

    /// The first restore's first touch.
    var firstTouch: UInt64? { touchNanoseconds.first }

    /// A later restore's first touch: the median of all but the first.
    var laterTouch: UInt64? { benchMedian(Array(touchNanoseconds.dropFirst())) }

    var encoded: String {
        var lines = [
            "setups=" + setupNanoseconds.map(String.init).joined(separator: ","),
            "touches=" + touchNanoseconds.map(String.init).joined(separator: ","),
            "faults=" + faults.map(String.init).joined(separator: ","),
            "pss=\(pssKiB)", "match=\(contentsMatch)", "anon=\(viewAnonymousKiB)",
        ]
        if let cacheKiB { lines.append("cache=\(cacheKiB)") }
        if let systemAnonymousKiB { lines.append("system_anon=\(systemAnonymousKiB)") }
        if let overlays { lines.append("overlays=\(overlays)") }
        return lines.joined(separator: "\n") + "\n"
    }

    init() {}

    init?(encoded text: String) {
        var values: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals]] = line[line.index(after: equals)...]
        }
        guard let setups = values["setups"], let touches = values["touches"],
              let pss = values["pss"].flatMap({ Int($0) }) else { return nil }
        setupNanoseconds = setups.split(separator: ",").compactMap { UInt64($0) }
        touchNanoseconds = touches.split(separator: ",").compactMap { UInt64($0) }
        pssKiB = pss
        contentsMatch = values["match"] != "false"
        faults = values["faults"].map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
        cacheKiB = values["cache"].flatMap { Int($0) }
        viewAnonymousKiB = values["anon"].flatMap { Int($0) } ?? 0
        systemAnonymousKiB = values["system_anon"].flatMap { Int($0) }
        overlays = values["overlays"].flatMap { Int($0) }
    }
}

/// A restore measurement's outcome.
struct BenchRestoreResult: Sendable {
    let benchCase: BenchRestoreCase
    let pages: Int
    let fragmentation: Int
    var sample: BenchRestoreSample?
    var error: BenchError?
    /// The sparse case: the least memory its restores could hold (each
    /// base page read once, each diff page once), and its diffs' share of
    /// dirty pages and of pages touched, per cent.
    var idealKiB: Int?
    var dirtyPercent: Int?
    var touchPercent: Int?
    /// The sparse case: the upper bound of its memory the run was checked
    /// against (``BenchSparseDiffs/estimatedKiB(_:processes:)``).
    var estimatedKiB: Int?
    /// The sparse case: its restores' touched dirty pages, KiB.
    var touchedDiffKiB: Int?

    var totalKiB: Int? { sample?.totalKiB }
    /// Memory per process.
    var perProcessKiB: Int? { totalKiB.map { $0 / max(1, benchCase.processes) } }
}
