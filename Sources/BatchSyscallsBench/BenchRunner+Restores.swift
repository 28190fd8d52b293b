// SPDX-License-Identifier: GPL-2.0-or-later

extension BenchRunner {
    /// The restore measurements' files.
    var restoreFiles: BenchRestoreFiles {
        BenchRestoreFiles(data: files, pages: configuration.restorePages, diffs: configuration.restores.max() ?? 0,
                          sparse: BenchSparseDiffs(pages: configuration.restorePages,
                                                   dirtyPercent: configuration.restoreDirtyPercent,
                                                   touchPercent: configuration.restoreTouchPercent),
                          kinds: configuration.restoreKinds)
    }

    /// Every restore case: per kind and cache state, each method with each
    /// process count; each measured once (a run of P restores gives P
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
            for cache in [BenchCache.cold, .warm] where configuration.caches.contains(cache) {
                for method in configuration.methods where kind.runs(method) {
                    for processes in configuration.restores {
                        let benchCase = BenchRestoreCase(kind: kind, method: method, processes: processes, cache: cache)
                        func result(_ sample: BenchRestoreSample?, _ error: BenchError?) -> BenchRestoreResult {
                            var result = BenchRestoreResult(benchCase: benchCase, pages: layout.pages,
                                                            fragmentation: layout.fragmentation, sample: sample, error: error)
                            if kind == .sparseOwnDiffs {
                                result.idealKiB = restoreFiles.sparse.idealKiB(processes: processes)
                                result.dirtyPercent = restoreFiles.sparse.dirtyPercent
                                result.touchPercent = restoreFiles.sparse.touchPercent
                            }
                            return result
                        }
                        var error = unavailable[method]
                        if error == nil && cache == .cold && !BenchSystem.isRoot {
                            error = .skipped("dropping caches needs root")
                        }
                        if let error {
                            results.append(result(nil, error))
                            continue
                        }
                        let restores = BenchRestores(benchCase: benchCase, files: restoreFiles, layout: layout)
                        let outcome = BenchChildRun.run(timeout: configuration.timeout) { () throws(BenchError) in
                            try restores.run().encoded
                        }
                        BenchSystem.settle()
                        var sample: BenchRestoreSample?
                        var failure: BenchError?
                        switch outcome {
                        case .success(let text):
                            sample = BenchRestoreSample(encoded: text)
                            if sample == nil { failure = .failed("unreadable result") }
                        case .failure(let error):
                            failure = error
                        }
                        if let sample {
                            let total = sample.totalKiB.map { "\($0 / 1024) MiB" } ?? "-"
                            let first = BenchFormat.duration(sample.firstTouch)
                            log("\(benchCase.label): total \(total), first touch \(first), later \(BenchFormat.duration(sample.laterTouch))")
                        } else if let failure {
                            log("\(benchCase.label): \(failure)")
                        }
                        results.append(result(sample, failure))
                    }
                }
            }
        }
        return results
    }
}
