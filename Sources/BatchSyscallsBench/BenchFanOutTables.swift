// SPDX-License-Identifier: GPL-2.0-or-later

/// One cell of the fan-out matrix: the share of each diff's pages dirty,
/// and of the pages each restore reads, per cent.
struct BenchFanOutCell: Hashable, Comparable, Sendable {
    let dirtyPercent: Int
    let touchPercent: Int

    static func < (left: Self, right: Self) -> Bool {
        (left.dirtyPercent, left.touchPercent) < (right.dirtyPercent, right.touchPercent)
    }

    /// For target checks (`5%/25%`: dirty, touched).
    var label: String { "\(dirtyPercent)%/\(touchPercent)%" }
}

/// The restores' sparse case as platforms run it, the fan-out: P restores
/// over one base, each with its own sparse diff, per cell of the matrix
/// and per method. Memory (total, and per VM as Pss while all P hold their
/// views), setup and first touch across the P restores (p50, p95), the
/// ratios to map-fixed and eager, and the fleet targets.
struct BenchFanOutTables {
    /// The sparse case's results (not run ones too).
    let results: [BenchRestoreResult]

    init(results all: [BenchRestoreResult]) {
        results = all.filter { $0.benchCase.kind == .sparseOwnDiffs }
    }

    var cells: [BenchFanOutCell] { BenchRestoreTables(results: results).sparseCells }
    var processCounts: [Int] { Set(results.map(\.benchCase.processes)).sorted() }

    /// The result of `method` with `processes` restores in `cell` (run or not).
    func find(_ method: BenchMethod, processes: Int, _ cell: BenchFanOutCell) -> BenchRestoreResult? {
        results.first {
            $0.benchCase.method == method && $0.benchCase.processes == processes
                && $0.benchCase.dirtyPercent == cell.dirtyPercent && $0.benchCase.touchPercent == cell.touchPercent
        }
    }

    /// The measured one only.
    func measured(_ method: BenchMethod, processes: Int, _ cell: BenchFanOutCell) -> BenchRestoreResult? {
        find(method, processes: processes, cell).flatMap { $0.sample == nil ? nil : $0 }
    }

    /// The ideal of a cell and P (computed: every result of it carries it).
    func idealKiB(processes: Int, _ cell: BenchFanOutCell) -> Int? {
        results.first {
            $0.benchCase.processes == processes && $0.benchCase.dirtyPercent == cell.dirtyPercent
                && $0.benchCase.touchPercent == cell.touchPercent
        }?.idealKiB
    }

    /// The ideal, with the base's part measured: what the floor (a
    /// plain mapping of the base, the same restores touching the same
    /// pages) holds, plus every touched diff page once. With a 25 % touch
    /// the base's read-around reads most of the base, which the computed
    /// ideal (touched pages only) leaves out.
    func readAroundIdealKiB(processes: Int, _ cell: BenchFanOutCell) -> Int? {
        guard let floor = measured(.floor, processes: processes, cell), let base = floor.totalKiB,
              let diff = floor.touchedDiffKiB else { return nil }
        return base + diff
    }

    /// One row per cell, P and method, and one for the cell's computed
    /// ideal: memory, Pss per VM, the ratios, setup and touch p50 and p95.
    var table: BenchTextTable {
        var table = BenchTextTable(
            headers: ["dirty", "touch", "P", "method", "total MiB", "cache + anon MiB", "PSS MiB/VM", "vs ideal",
                      "vs computed ideal", "vs map-fixed", "vs eager", "setup p50", "setup p95", "touch p50", "touch p95",
                      "touch p95 vs map-fixed", "setup p95 vs map-fixed", "note"],
            rightAligned: Set(0...16))
        for cell in cells {
            for processes in processCounts {
                let computed = idealKiB(processes: processes, cell)
                let ideal = readAroundIdealKiB(processes: processes, cell)
                let head = ["\(cell.dirtyPercent)%", "\(cell.touchPercent)%", "\(processes)"]
                table.add(head + ["ideal", BenchFormat.mebibytes(ideal)] + Array(repeating: "-", count: 12)
                    + ["the floor's memory (the base as a plain mapping reads it) + each touched diff page once"])
                table.add(head + ["computed ideal", BenchFormat.mebibytes(computed)] + Array(repeating: "-", count: 12)
                    + ["each touched base page once, each touched diff page once"])
                let mapFixed = measured(.mapFixed, processes: processes, cell)
                let eager = measured(.eager, processes: processes, cell)
                for method in BenchMethod.allCases {
                    guard let result = find(method, processes: processes, cell) else { continue }
                    let sample = result.sample
                    var note = result.error?.description ?? ""
                    if sample?.contentsMatch == false { note = "WRONG CONTENTS" }
                    let cacheAndAnon = sample.map {
                        "\(BenchFormat.mebibytes($0.cacheKiB)) + \(BenchFormat.mebibytes($0.viewAnonymousKiB))"
                    } ?? "-"
                    table.add(head + [
                        method.rawValue,
                        BenchFormat.mebibytes(result.totalKiB),
                        cacheAndAnon,
                        BenchFormat.mebibytes(sample.map { $0.pssKiB / max(1, processes) }),
                        BenchFormat.ratio(BenchRestoreTables.ratio(result.totalKiB, ideal)),
                        BenchFormat.ratio(BenchRestoreTables.ratio(result.totalKiB, computed)),
                        BenchFormat.ratio(BenchRestoreTables.ratio(result.totalKiB, mapFixed?.totalKiB)),
                        BenchFormat.ratio(BenchRestoreTables.ratio(result.totalKiB, eager?.totalKiB)),
                        BenchFormat.duration(sample?.setupP50),
                        BenchFormat.duration(sample?.setupP95),
                        BenchFormat.duration(sample?.touchP50),
                        BenchFormat.duration(sample?.touchP95),
                        BenchFormat.ratio(BenchRestoreTables.ratio(sample?.touchP95, mapFixed?.sample?.touchP95)),
                        BenchFormat.ratio(BenchRestoreTables.ratio(sample?.setupP95, mapFixed?.sample?.setupP95)),
                        note,
                    ])
                }
            }
        }
        return table
    }

    /// The short table (for the README): per cell at the largest P
    /// measured, each method's total against the ideal, and the overlay's
    /// ratios.
    var summary: BenchTextTable {
        let methods = BenchMethod.allCases.filter { method in method != .floor && results.contains { $0.benchCase.method == method } }
        var table = BenchTextTable(
            headers: ["dirty", "touch", "P", "ideal MiB", "computed ideal MiB"] + methods.map { "\($0.rawValue) MiB" }
                + ["overlay vs better of map-fixed, eager", "touch p95 overlay / map-fixed"],
            rightAligned: Set(0...(methods.count + 6)))
        guard let many = processCounts.last else { return table }
        for cell in cells {
            var row = ["\(cell.dirtyPercent)%", "\(cell.touchPercent)%", "\(many)",
                       BenchFormat.mebibytes(readAroundIdealKiB(processes: many, cell)),
                       BenchFormat.mebibytes(idealKiB(processes: many, cell))]
            for method in methods {
                let result = find(method, processes: many, cell)
                row.append(result?.sample == nil ? (result?.error.map { _ in "not run" } ?? "-") : BenchFormat.mebibytes(result?.totalKiB))
            }
            let overlay = measured(.overlay, processes: many, cell)
            row.append(BenchFormat.ratio(betterRatio(overlay?.totalKiB, processes: many, cell)?.ratio))
            row.append(BenchFormat.ratio(BenchRestoreTables.ratio(overlay?.sample?.touchP95,
                                                                  measured(.mapFixed, processes: many, cell)?.sample?.touchP95)))
            table.add(row)
        }
        return table
    }

    /// `total` over the smaller of map-fixed's and eager's (whichever
    /// ran), with the method it was compared with.
    private func betterRatio(_ total: Int?, processes: Int, _ cell: BenchFanOutCell) -> (ratio: Double, method: BenchMethod)? {
        let candidates = [BenchMethod.mapFixed, .eager].compactMap { method in
            measured(method, processes: processes, cell)?.totalKiB.map { (method, $0) }
        }
        guard let better = candidates.min(by: { $0.1 < $1.1 }),
              let ratio = BenchRestoreTables.ratio(total, better.1) else { return nil }
        return (ratio, better.0)
    }

    /// The fleet targets of issue 16, at every P and cell measured.
    var targets: [BenchTarget] {
        guard !results.isEmpty else { return [] }
        var better = BenchTarget(goal: "fan-out memory, every P, dirty share and touch: overlay total at most 1.10x "
            + "the better of map-fixed and eager")
        var ideal = BenchTarget(goal: "fan-out memory, every P, dirty share and touch: overlay total at most 1.15x the ideal "
            + "(what one plain mapping of the base reads for the same touch, once: the floor's memory; plus every touched "
            + "diff page once; in brackets the ratio to the computed ideal, touched pages only, which read-around exceeds)")
        var touch = BenchTarget(goal: "fan-out: overlay time-to-touch p95 at most map-fixed's (every P, dirty share and touch)")
        var setup = BenchTarget(goal: "fan-out: overlay setup p95 at most map-fixed's (every P, dirty share and touch)")
        var unmeasured: [String] = []
        for cell in cells {
            for processes in processCounts {
                let label = "\(cell.label) P=\(processes)"
                guard let overlay = measured(.overlay, processes: processes, cell), let total = overlay.totalKiB else {
                    unmeasured.append(label)
                    continue
                }
                if let (ratio, method) = betterRatio(total, processes: processes, cell) {
                    better.checks.append(.init(label: label, value: "\(BenchFormat.ratio(ratio)) (\(method.rawValue))",
                                               held: ratio <= 1.10))
                } else {
                    unmeasured.append("\(label) (neither map-fixed nor eager ran)")
                }
                if let idealKiB = readAroundIdealKiB(processes: processes, cell),
                   let ratio = BenchRestoreTables.ratio(total, idealKiB) {
                    let computed = BenchFormat.ratio(BenchRestoreTables.ratio(total, overlay.idealKiB))
                    ideal.checks.append(.init(label: label, value: "\(BenchFormat.ratio(ratio)) (computed: \(computed))",
                                              held: ratio <= 1.15))
                }
                let mapFixed = measured(.mapFixed, processes: processes, cell)?.sample
                if let ratio = BenchRestoreTables.ratio(overlay.sample?.touchP95, mapFixed?.touchP95) {
                    touch.checks.append(.init(label: label, value: BenchFormat.ratio(ratio), held: ratio <= 1.0))
                }
                if let ratio = BenchRestoreTables.ratio(overlay.sample?.setupP95, mapFixed?.setupP95) {
                    setup.checks.append(.init(label: label, value: BenchFormat.ratio(ratio), held: ratio <= 1.0))
                }
            }
        }
        var targets = [better, ideal, touch, setup]
        for index in targets.indices where targets[index].checks.isEmpty {
            targets[index].missing = "its measurements are missing (unavailable, skipped or not selected)"
        }
        if !unmeasured.isEmpty {
            // Said in the first target, so that a missing cell is not taken for a held one.
            targets[0].goal += " (not measured: " + unmeasured.joined(separator: ", ") + ")"
        }
        return targets
    }

    /// The report's section (empty when the case was not measured).
    var markdown: String {
        guard let first = results.first else { return "" }
        let cache = first.benchCase.cache == .cold ? "caches dropped first, so every page counts" : "the files cached first"
        var out = """
            ## Fan-out: sparse own diffs

            P restores over one base of \(BenchFormat.grouped(first.pages)) pages, each with its own sparse diff \
            file (dirty runs of 1 to 8 pages covering about *dirty* % of the pages, holes elsewhere, chosen per \
            restore by a seeded generator), each reading a random *touch* % of its pages (100: every page); \
            restores started one after the other, all P holding their views while the memory is counted \
            (\(cache)). Methods: *overlay* (one v2 request, the diff by its data extents), *map-fixed* (one \
            `mmap(MAP_FIXED)` of the diff per dirty run over a private mapping of the base), *eager* (a writable \
            private mapping of the base, each dirty run read into it with `pread`), *userfaultfd* (a copy per \
            VM: private anonymous memory, a handler thread serving each fault with `UFFDIO_COPY` of the composed \
            page), *merge* (a merged copy per VM: its setup writes its own merged file, the base with its diff \
            over it, into memory (a memfd) and maps it private), *floor* (the base alone, no diff). \
            *total*: page cache growth (`Cached`, which counts memfd pages) plus the views' anonymous memory; \
            *PSS MiB/VM*: the processes' summed Pss (smaps_rollup) over P: mapped pages only, so a diff's \
            page cache that no process maps (eager's, map-fixed's read-around) is in the total only; \
            *ideal*: what one plain mapping of the base reads for the same touch, once (the floor's memory in \
            the same cell and P), plus every touched diff page once; *computed ideal*: each touched base page \
            once plus each touched diff page once, below what read-around makes even a plain mapping hold when \
            a random 25 % is touched. Setup and touch: p50 and p95 (nearest rank) across the P restores. A method \
            whose estimated memory would not fit the guest is not run there (the note gives the estimate).


            """
        out += table.markdown + "\n"
        out += "Summary at the largest P (total MiB):\n\n" + summary.markdown + "\n"
        return out
    }
}
