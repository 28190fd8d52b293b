// SPDX-License-Identifier: GPL-2.0-or-later

/// The restore measurements as a table, targets, a report section and
/// JSON lines.
struct BenchRestoreTables {
    let results: [BenchRestoreResult]

    func find(_ kind: BenchRestoreKind, _ method: BenchMethod, processes: Int, cache: BenchCache,
              dirty: Int = 0, touch: Int = 100) -> BenchRestoreResult? {
        let wanted = BenchRestoreCase(kind: kind, method: method, processes: processes, cache: cache,
                                      dirtyPercent: dirty, touchPercent: touch)
        return results.first { $0.benchCase == wanted && $0.sample != nil }
    }

    /// The sparse case's cells of the fan-out matrix measured, in order.
    var sparseCells: [BenchFanOutCell] {
        Set(results.filter { $0.benchCase.kind == .sparseOwnDiffs }.map {
            BenchFanOutCell(dirtyPercent: $0.benchCase.dirtyPercent, touchPercent: $0.benchCase.touchPercent)
        }).sorted()
    }

    /// `value` over `reference`, when both are known.
    /// Memory ratios against less than 1 MiB (warm runs of the file
    /// methods, whose pages were cached before) say nothing: none then.
    static func ratio(_ value: Int?, _ reference: Int?) -> Double? {
        guard let value, let reference, reference >= 1024 else { return nil }
        return Double(value) / Double(reference)
    }

    static func ratio(_ value: UInt64?, _ reference: UInt64?) -> Double? {
        guard let value, let reference, reference > 0 else { return nil }
        return Double(value) / Double(reference)
    }

    /// One row per case of the template and own diffs (the sparse case
    /// has the fan-out table, ``BenchFanOutTables``): memory (total, per process, over one process's,
    /// over map-fixed's) and first touches (the first restore's, a later
    /// one's, each over the floor's in the same run).
    var table: BenchTextTable {
        var table = BenchTextTable(
            headers: ["case", "cache", "method", "P", "total MiB", "MiB/process", "vs P=1", "vs map-fixed",
                      "overlays", "first touch", "vs floor", "later touch", "vs floor", "fastest later", "vs floor",
                      "faults", "note"],
            rightAligned: [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
        for result in results where result.benchCase.kind != .sparseOwnDiffs {
            let benchCase = result.benchCase
            let one = find(benchCase.kind, benchCase.method, processes: 1, cache: benchCase.cache)
            let mapFixed = find(benchCase.kind, .mapFixed, processes: benchCase.processes, cache: benchCase.cache)
            let floor = find(benchCase.kind, .floor, processes: benchCase.processes, cache: benchCase.cache)
            let sample = result.sample
            var note = result.error?.description ?? ""
            if sample?.contentsMatch == false { note = "WRONG CONTENTS" }
            table.add([
                benchCase.kind.rawValue,
                benchCase.cache.rawValue,
                benchCase.method.rawValue,
                "\(benchCase.processes)",
                BenchFormat.mebibytes(result.totalKiB),
                BenchFormat.mebibytes(result.perProcessKiB),
                benchCase.processes == 1 ? "-" : BenchFormat.ratio(Self.ratio(result.totalKiB, one?.totalKiB)),
                BenchFormat.ratio(Self.ratio(result.totalKiB, mapFixed?.totalKiB)),
                sample?.overlays.map(String.init) ?? "-",
                BenchFormat.duration(sample?.firstTouch),
                BenchFormat.ratio(Self.ratio(sample?.firstTouch, floor?.sample?.firstTouch)),
                BenchFormat.duration(sample?.laterTouch),
                BenchFormat.ratio(Self.ratio(sample?.laterTouch, floor?.sample?.laterTouch)),
                BenchFormat.duration(sample?.fastestLaterTouch),
                BenchFormat.ratio(Self.ratio(sample?.fastestLaterTouch, floor?.sample?.fastestLaterTouch)),
                (sample?.laterFaults ?? sample?.faults.first).map(BenchFormat.grouped) ?? "-",
                note,
            ])
        }
        return table
    }

    /// The largest process count measured (8 by default).
    var manyProcesses: Int? { results.map(\.benchCase.processes).filter { $0 > 1 }.max() }

    /// The project's restore targets.
    var targets: [BenchTarget] {
        guard let many = manyProcesses else { return [] }
        var memory = BenchTarget(goal: "restores, template, \(many) processes: overlay memory at most 1.10x one process's "
            + "and at most map-fixed's total (caches dropped first: every page counted)")
        if let overlay = find(.template, .overlay, processes: many, cache: .cold)?.totalKiB {
            if let one = find(.template, .overlay, processes: 1, cache: .cold)?.totalKiB,
               let ratio = Self.ratio(overlay, one) {
                memory.checks.append(.init(label: "vs one process", value: BenchFormat.ratio(ratio), held: ratio <= 1.10))
            }
            if let mapFixed = find(.template, .mapFixed, processes: many, cache: .cold)?.totalKiB,
               let ratio = Self.ratio(overlay, mapFixed) {
                memory.checks.append(.init(label: "vs map-fixed", value: BenchFormat.ratio(ratio), held: ratio <= 1.0))
            }
        }
        var touch = BenchTarget(goal: "restores, template: a later restore's first touch within 1.10x of the floor's "
            + "(a later floor restore reads the cached base: the floor's warm touch; fastest of the later restores)")
        for cache in [BenchCache.cold, .warm] {
            if let overlay = find(.template, .overlay, processes: many, cache: cache)?.sample?.fastestLaterTouch,
               let floor = find(.template, .floor, processes: many, cache: cache)?.sample?.fastestLaterTouch,
               let ratio = Self.ratio(overlay, floor) {
                touch.checks.append(.init(label: "\(cache.rawValue), \(many) processes", value: BenchFormat.ratio(ratio),
                                          held: ratio <= 1.10))
            }
        }
        var targets = [memory, touch]
        if let sparse = sparseTarget(many) { targets.append(sparse) }
        targets += BenchFanOutTables(results: results).targets
        for index in targets.indices where targets[index].checks.isEmpty {
            targets[index].missing = "its measurements are missing (unavailable, skipped or not selected)"
        }
        return targets
    }

    /// Own diffs: the overlay's memory against map-fixed's and merge's.
    var ownDiffsSummary: String? {
        guard let many = manyProcesses,
              let overlay = find(.ownDiffs, .overlay, processes: many, cache: .cold)?.totalKiB else { return nil }
        var parts = ["overlay \(BenchFormat.mebibytes(overlay)) MiB"]
        for method in [BenchMethod.mapFixed, .merge, .floor] {
            if let total = find(.ownDiffs, method, processes: many, cache: .cold)?.totalKiB {
                parts.append("\(method.rawValue) \(BenchFormat.mebibytes(total)) MiB "
                    + "(overlay \(BenchFormat.ratio(Self.ratio(overlay, total))) of it)")
            }
        }
        return "Own diffs, \(many) processes, caches dropped first: " + parts.joined(separator: "; ") + "."
    }

    /// Sparse own diffs (when measured): the overlay's memory at most
    /// map-fixed's and eager's, and within 1.25x of the ideal, at the
    /// largest P, in each cell of the fan-out matrix.
    private func sparseTarget(_ many: Int) -> BenchTarget? {
        guard results.contains(where: { $0.benchCase.kind == .sparseOwnDiffs }) else { return nil }
        var target = BenchTarget(goal: "restores, sparse own diffs, \(many) processes: overlay memory at most map-fixed's "
            + "and eager's, and at most 1.25x the ideal (each base page and each diff page held once; caches dropped first)")
        for cell in sparseCells {
            guard let overlayResult = find(.sparseOwnDiffs, .overlay, processes: many, cache: .cold,
                                           dirty: cell.dirtyPercent, touch: cell.touchPercent),
                  let overlay = overlayResult.totalKiB else { continue }
            for method in [BenchMethod.mapFixed, .eager] {
                if let total = find(.sparseOwnDiffs, method, processes: many, cache: .cold,
                                    dirty: cell.dirtyPercent, touch: cell.touchPercent)?.totalKiB,
                   let ratio = Self.ratio(overlay, total) {
                    target.checks.append(.init(label: "\(cell.label) vs \(method.rawValue)", value: BenchFormat.ratio(ratio),
                                               held: ratio <= 1.0))
                }
            }
            if let ideal = overlayResult.idealKiB, let ratio = Self.ratio(overlay, ideal) {
                target.checks.append(.init(label: "\(cell.label) vs ideal", value: BenchFormat.ratio(ratio), held: ratio <= 1.25))
            }
        }
        return target
    }

    /// The report's section.
    func markdown(fragmentation: Int) -> String {
        guard let first = results.first else { return "" }
        let layoutText = fragmentation == 1 ? "every other page" : "every other run of \(fragmentation) pages"
        // The every-other-run layout is the template's and own diffs' (the sparse case has its own).
        let layoutNote = results.contains { $0.benchCase.kind != .sparseOwnDiffs }
            ? " (the template's and own diffs' diff serves \(layoutText))" : ""
        var out = """
            ## Restores

            P processes, started one after the other, each mapping the files itself, composing a \
            \(BenchFormat.grouped(first.pages))-page view\(layoutNote) with one method and reading every page; all hold their views \
            while the memory is counted. *template*: every process restores the same base, diff and segments; \
            *own diffs*: each its own diff file over one shared base (*sparse own diffs*: the fan-out, \
            [below](#fan-out-sparse-own-diffs)). *total*: growth of the page cache \
            (/proc/meminfo `Cached`) from the start (cold: after dropping caches, so every page is counted; \
            warm: the files were read before, so their pages are not) to when all P hold their views, plus \
            each process's anonymous memory growth from its setup to the end of its touch (smaps_rollup: the \
            view's, without what a forked process copies of the bench's own memory). *faults*: page faults \
            of a later restore's touch (the first's when P = 1). *overlays*: overlay inodes the requests map (the module's listing). \
            *first touch*: the first restore's read of every page; *later touch*: the median of the other \
            restores', *fastest later* their minimum (host load on an emulated guest only slows a run down); \
            *vs floor*: over the floor's (a plain mapping of the base) in the same case, cache \
            state and P.


            """
        if !table.rows.isEmpty { out += table.markdown + "\n" }
        if let summary = ownDiffsSummary { out += summary + "\n\n" }
        out += BenchFanOutTables(results: results).markdown
        return out
    }

    /// One JSON object per result.
    var jsonLines: [String] {
        results.map { result in
            let sample = result.sample
            func optional(_ value: Int?) -> BenchJSON.Value { value.map(BenchJSON.Value.integer) ?? .null }
            func optional(_ value: UInt64?) -> BenchJSON.Value { value.map(BenchJSON.Value.unsigned) ?? .null }
            var fields: [(String, BenchJSON.Value)] = [
                ("kind", .string("restores")),
                ("case", .string(result.benchCase.kind.rawValue)),
                ("method", .string(result.benchCase.method.rawValue)),
                ("processes", .integer(result.benchCase.processes)),
                ("cache", .string(result.benchCase.cache.rawValue)),
                ("pages", .integer(result.pages)),
                ("fragmentation", .integer(result.fragmentation)),
                ("status", .string(result.error?.status ?? "ok")),
                ("total_kib", optional(result.totalKiB)),
                ("cache_kib", optional(sample?.cacheKiB)),
                ("anon_kib", optional(sample?.viewAnonymousKiB)),
                ("system_anon_kib", optional(sample?.systemAnonymousKiB)),
                ("pss_kib", optional(sample?.pssKiB)),
                ("overlays", optional(sample?.overlays)),
                ("first_touch_ns", optional(sample?.firstTouch)),
                ("later_touch_ns", optional(sample?.laterTouch)),
                ("fastest_later_touch_ns", optional(sample?.fastestLaterTouch)),
            ]
            if let sample {
                fields.append(("touch_ns", .string(sample.touchNanoseconds.map(String.init).joined(separator: ","))))
                fields.append(("setup_ns", .string(sample.setupNanoseconds.map(String.init).joined(separator: ","))))
                fields.append(("faults", .string(sample.faults.map(String.init).joined(separator: ","))))
                fields.append(("contents_match", .bool(sample.contentsMatch)))
                fields.append(("setup_p50_ns", optional(sample.setupP50)))
                fields.append(("setup_p95_ns", optional(sample.setupP95)))
                fields.append(("touch_p50_ns", optional(sample.touchP50)))
                fields.append(("touch_p95_ns", optional(sample.touchP95)))
            }
            if let ideal = result.idealKiB { fields.append(("ideal_kib", .integer(ideal))) }
            if let dirty = result.dirtyPercent { fields.append(("dirty_percent", .integer(dirty))) }
            if let touched = result.touchPercent { fields.append(("touch_percent", .integer(touched))) }
            if let estimate = result.estimatedKiB { fields.append(("estimated_kib", .integer(estimate))) }
            if let diff = result.touchedDiffKiB { fields.append(("touched_diff_kib", .integer(diff))) }
            if let error = result.error { fields.append(("reason", .string(error.reason))) }
            return BenchJSON.object(fields)
        }
    }
}
