// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The results as tables: printed on stdout, and (as Markdown) in the
/// report and docs/benchmarks.md.
struct BenchTables {
    let results: BenchRunner.Results
    private let lookup: BenchLookup

    init(_ results: BenchRunner.Results) {
        self.results = results
        lookup = BenchLookup(results)
    }

    /// Touch runs: per cache state, the floor, then each fragmentation's
    /// methods; times are medians, ratios are to the floor of the same
    /// cache state.
    var touch: BenchTextTable {
        var table = BenchTextTable(
            headers: ["method", "N", "segments", "cache", "setup", "touch", "ns/page", "vs floor",
                      "write", "vs floor", "VMAs", "RSS MiB", "anon MiB", "cache MiB", "note"],
            rightAligned: [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
        for result in results.touch {
            let benchCase = result.benchCase
            let isFloor = benchCase.method == .floor
            table.add([
                benchCase.method.rawValue,
                isFloor ? "-" : "\(benchCase.fragmentation)",
                isFloor ? "-" : BenchFormat.grouped(benchCase.segments),
                benchCase.cache.rawValue,
                BenchFormat.duration(result.setupNanoseconds),
                BenchFormat.duration(result.touchNanoseconds),
                BenchFormat.perPage(result.touchNanosecondsPerPage),
                BenchFormat.ratio(lookup.touchRatioToFloor(benchCase.method, fragmentation: benchCase.fragmentation,
                                                           cache: benchCase.cache)),
                BenchFormat.duration(result.writeTouchNanoseconds),
                BenchFormat.ratio(lookup.writeRatioToFloor(benchCase.method, fragmentation: benchCase.fragmentation,
                                                           cache: benchCase.cache)),
                result.vmas.map(BenchFormat.grouped) ?? "-",
                BenchFormat.mebibytes(result.rssKiB),
                BenchFormat.mebibytes(result.anonymousKiB),
                BenchFormat.mebibytes(result.cacheKiB),
                note(result),
            ])
        }
        return table
    }

    /// Setup-only runs: time and VMAs per segment count, and each method's
    /// setup over the overlay's.
    var setup: BenchTextTable {
        var table = BenchTextTable(headers: ["segments", "method", "setup", "vs overlay", "VMAs", "RSS MiB", "note"],
                                   rightAligned: [0, 2, 3, 4, 5])
        for result in results.setup {
            let benchCase = result.benchCase
            var ratio: Double?
            if let time = result.setupNanoseconds,
               let overlay = lookup.setup(.overlay, segments: benchCase.segments)?.setupNanoseconds, overlay > 0 {
                ratio = Double(time) / Double(overlay)
            }
            table.add([
                BenchFormat.grouped(benchCase.segments),
                benchCase.method.rawValue,
                BenchFormat.duration(result.setupNanoseconds),
                BenchFormat.ratio(ratio),
                result.vmas.map(BenchFormat.grouped) ?? "-",
                BenchFormat.mebibytes(result.rssKiB),
                note(result),
            ])
        }
        return table
    }

    /// Sharing: memory of N processes against one, per method.
    var sharing: BenchTextTable {
        var table = BenchTextTable(
            headers: ["method", "processes", "pages", "total MiB", "vs one", "page cache MiB", "anon MiB",
                      "Pss sum MiB", "overlay cached MiB", "note"],
            rightAligned: [1, 2, 3, 4, 5, 6, 7, 8])
        for result in results.sharing {
            var ratio: Double?
            if let total = result.totalKiB, let one = lookup.sharing(result.method, processes: 1)?.totalKiB, one > 0 {
                ratio = Double(total) / Double(one)
            }
            var note = result.error.map(\.description) ?? ""
            if result.contentsMatch == false { note = "WRONG CONTENTS" }
            table.add([
                result.method.rawValue,
                "\(result.processes)",
                BenchFormat.grouped(result.pages),
                BenchFormat.mebibytes(result.totalKiB),
                BenchFormat.ratio(ratio),
                BenchFormat.mebibytes(result.cacheKiB),
                BenchFormat.mebibytes(result.anonymousKiB),
                BenchFormat.mebibytes(result.pssKiB),
                BenchFormat.mebibytes(result.overlayCachedPages.map { $0 * (MemoryPage.size / 1024) }),
                note,
            ])
        }
        return table
    }

    /// The targets, one row each.
    var targets: BenchTextTable {
        var table = BenchTextTable(headers: ["target", "measured", "verdict"], rightAligned: [])
        for target in BenchTarget.evaluate(results) {
            let measured = target.checks.isEmpty
                ? (target.missing ?? "-")
                : target.checks.map { "\($0.label): \($0.value)" + ($0.held ? "" : " (missed)") }
                    .joined(separator: "; ")
            table.add([target.goal, measured, target.verdict])
        }
        return table
    }

    /// The note of a result: why it has no numbers, or a warning.
    private func note(_ result: BenchResult) -> String {
        if let error = result.error { return error.description }
        var notes: [String] = []
        if result.contentsMatch == false { notes.append("WRONG CONTENTS") }
        if !result.laterErrors.isEmpty {
            notes.append("\(result.laterErrors.count) repetition(s) failed: \(result.laterErrors[0].reason)")
        }
        if result.samples.count < 3 && result.benchCase.kind == .touch { notes.append("\(result.samples.count) run(s)") }
        return notes.joined(separator: "; ")
    }
}
