// SPDX-License-Identifier: GPL-2.0-or-later

extension BenchRunner {
    /// The restore measurements' files.
    var restoreFiles: BenchRestoreFiles {
        BenchRestoreFiles(data: files, pages: configuration.restorePages, diffs: configuration.restores.max() ?? 0,
                          dirtyPercents: configuration.restoreDirtyPercents, kinds: configuration.restoreKinds)
    }

    /// The cases of `kind`: per cache state, each method with each process
    /// count; the sparse case (the fan-out) per cell of its matrix, every
    /// dirty share with every touch share, caches dropped first only when
    /// that state is selected (a warm fan-out would count none of the
    /// files' pages).
    func restoreCases(_ kind: BenchRestoreKind) -> [BenchRestoreCase] {
        var caches = [BenchCache.cold, .warm].filter(configuration.caches.contains)
        var cells = [(0, 100)]
        if kind == .sparseOwnDiffs {
            if caches.contains(.cold) { caches = [.cold] }
            cells = configuration.restoreDirtyPercents.flatMap { dirty in
                configuration.restoreTouchPercents.map { (dirty, $0) }
            }
        }
        var cases: [BenchRestoreCase] = []
        for cache in caches {
            for (dirty, touch) in cells {
                for method in (kind == .sparseOwnDiffs ? configuration.fanOutMethods : configuration.methods)
                    where kind.runs(method) {
                    for processes in configuration.restores {
                        cases.append(BenchRestoreCase(kind: kind, method: method, processes: processes, cache: cache,
                                                      dirtyPercent: dirty, touchPercent: touch))
                    }
                }
            }
        }
        return cases
    }

    /// Every restore case, each measured once (a run of P restores gives P
    /// touches, and its memory varies little).
    func runRestores(unavailable: [BenchMethod: BenchError]) -> [BenchRestoreResult] {
        let restoreFiles = self.restoreFiles
        let layout = BenchLayout(pages: configuration.restorePages, fragmentation: configuration.restoreFragmentation)
        do {
            try restoreFiles.prepare(log: log)
            try restoreFiles.link()
        } catch {
            let failure = BenchError.call("preparing the restore files", error)
            log("restores: \(failure)")
            return []
        }
        var results: [BenchRestoreResult] = []
        for kind in configuration.restoreKinds {
            for benchCase in restoreCases(kind) {
                var result = BenchRestoreResult(benchCase: benchCase, pages: layout.pages,
                                                fragmentation: layout.fragmentation, sample: nil, error: nil)
                if kind == .sparseOwnDiffs {
                    let sparse = restoreFiles.sparse(benchCase)
                    result.idealKiB = sparse.idealKiB(processes: benchCase.processes)
                    result.dirtyPercent = benchCase.dirtyPercent
                    result.touchPercent = benchCase.touchPercent
                    result.estimatedKiB = sparse.estimatedKiB(benchCase.method, processes: benchCase.processes)
                    result.touchedDiffKiB = sparse.touchedDiffKiB(processes: benchCase.processes)
                }
                var error = unavailable[benchCase.method]
                if error == nil && benchCase.cache == .cold && !BenchSystem.isRoot {
                    error = .skipped("dropping caches needs root")
                }
                if error == nil, let needed = result.estimatedKiB, let available = BenchSystem.memoryInfo()["MemAvailable"],
                   needed > available - configuration.restoreMemoryMarginKiB {
                    // Never run the guest out of memory: anonymous views end
                    // in the OOM killer, file pages in reclaim that falsifies
                    // the count.
                    error = .skipped("not run: needs up to \(needed / 1024) MiB, \(available / 1024) MiB available "
                        + "(less a margin of \(configuration.restoreMemoryMarginKiB / 1024) MiB)")
                }
                if let error {
                    result.error = error
                    log("\(benchCase.label): \(error)")
                    results.append(result)
                    continue
                }
                let restores = BenchRestores(benchCase: benchCase, files: restoreFiles, layout: layout)
                let outcome = BenchChildRun.run(timeout: configuration.timeout) { () throws(BenchError) in
                    try restores.run().encoded
                }
                BenchSystem.settle()
                switch outcome {
                case .success(let text):
                    result.sample = BenchRestoreSample(encoded: text)
                    if result.sample == nil { result.error = .failed("unreadable result") }
                case .failure(let error):
                    result.error = error
                }
                if let sample = result.sample {
                    let total = sample.totalKiB.map { "\($0 / 1024) MiB" } ?? "-"
                    let first = BenchFormat.duration(sample.firstTouch)
                    log("\(benchCase.label): total \(total), first touch \(first), later \(BenchFormat.duration(sample.laterTouch))")
                } else if let failure = result.error {
                    log("\(benchCase.label): \(failure)")
                }
                results.append(result)
            }
        }
        return results
    }
}
