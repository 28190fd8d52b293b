// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay

/// Runs every measurement of a configuration, each repetition in a child
/// process, and collects the results.
struct BenchRunner {
    let configuration: BenchConfiguration
    /// Progress lines (stderr).
    let log: (String) -> Void

    var files: BenchDataFiles {
        BenchDataFiles(directory: configuration.directory, pages: configuration.pages)
    }

    /// Everything measured, in the order of the report.
    struct Results: Sendable {
        var touch: [BenchResult] = []
        var setup: [BenchResult] = []
        var sharing: [BenchSharingResult] = []
        var restores: [BenchRestoreResult] = []
        var chain: [BenchChain.Result] = []
        var ready = BenchReady.Outcome()
    }

    func run() throws(BenchError) -> Results {
        do {
            try files.prepare(log: log)
        } catch {
            throw .call("writing the data files in \(configuration.directory)", error)
        }
        var unavailable: [BenchMethod: BenchError] = [:]
        if configuration.methods.contains(.overlay), let reason = BenchOverlaySetup.unavailability() {
            unavailable[.overlay] = .unavailable(reason)
        }
        if configuration.methods.contains(.userfaultfd), let reason = BenchUserfaultfdSetup.unavailability() {
            unavailable[.userfaultfd] = .unavailable(reason)
        }
        for (method, error) in unavailable { log("\(method.rawValue): \(error)") }

        if configuration.primeMemory { primeMemory() }
        let restoreMapCount = raiseMapCountIfNeeded()
        defer { if let restoreMapCount { try? BenchSystem.setMaxMapCount(restoreMapCount) } }

        var results = Results()
        for cache in [BenchCache.warm, .cold] where configuration.caches.contains(cache) {
            results.touch += runTouch(cache: cache, unavailable: unavailable)
        }
        results.setup = runSetup(unavailable: unavailable)
        if configuration.sharingProcesses > 0 {
            results.sharing = runSharing(unavailable: unavailable)
        }
        if !configuration.restores.isEmpty {
            results.restores = runRestores(unavailable: unavailable)
        }
        if configuration.chainDiffs > 0 { results.chain = BenchChain(configuration: configuration, log: log).run() }
        if configuration.readyPages > 0 { results.ready = BenchReady(configuration: configuration, log: log).run() }
        return results
    }

    /// Touches most free memory once, in a child process, and gives it
    /// back: QEMU allocates the guest's RAM on the host on first use, a cost
    /// that would otherwise fall on whichever runs come first.
    private func primeMemory() {
        let free = BenchSystem.memoryInfo()["MemFree"] ?? 0
        let pages = (free - 384 * 1024) * 1024 / MemoryPage.size
        guard pages > 0 else { return }
        let start = Stopwatch.now()
        let outcome = BenchChildRun.run(timeout: configuration.timeout) { () throws(BenchError) in
            let memory = try BenchAnonymousMemory(pages: pages)
            BenchTouch.write(memory.address, pages: pages)
            return ""
        }
        if case .failure(let error) = outcome { log("priming memory: \(error)") }
        log("primed \((pages * MemoryPage.size) >> 20) MiB of free memory in \(BenchFormat.duration(Stopwatch.now() - start))")
    }

    /// map-fixed needs two VMAs a segment: when it needs more than
    /// `vm.max_map_count` allows, raises the limit (root only) and returns
    /// the old value to restore. Without root the limit stays, and map-fixed
    /// fails with the errno it gets.
    private func raiseMapCountIfNeeded() -> Int? {
        guard configuration.methods.contains(.mapFixed), let limit = BenchSystem.maxMapCount else { return nil }
        let touchSegments = configuration.fragmentations.map {
            BenchLayout(pages: configuration.pages, fragmentation: $0).segmentCount
        }
        let segments = (touchSegments + configuration.setupSegments).max() ?? 0
        let needed = 2 * segments + 1024
        guard needed > limit else { return nil }
        guard BenchSystem.isRoot else {
            log("map-fixed with \(segments) segments needs \(needed) VMAs; vm.max_map_count is \(limit) (not root: left as is)")
            return nil
        }
        do {
            try BenchSystem.setMaxMapCount(needed)
            log("vm.max_map_count raised from \(limit) to \(needed) for map-fixed (restored at the end)")
            return limit
        } catch {
            log("cannot raise vm.max_map_count: \(error.name)")
            return nil
        }
    }

    // MARK: Touch runs

    /// The touch cases of one cache state: the floor once (it has no
    /// segments), every other method per fragmentation.
    func touchCases(cache: BenchCache) -> [BenchCase] {
        var cases: [BenchCase] = []
        if configuration.methods.contains(.floor) {
            cases.append(.touch(.floor, pages: configuration.pages, fragmentation: 1, cache: cache))
        }
        for fragmentation in configuration.fragmentations {
            for method in configuration.methods where method != .floor {
                cases.append(.touch(method, pages: configuration.pages, fragmentation: fragmentation, cache: cache))
            }
        }
        return cases
    }

    private func runTouch(cache: BenchCache, unavailable: [BenchMethod: BenchError]) -> [BenchResult] {
        let cases = touchCases(cache: cache)
        if cache == .cold && !BenchSystem.isRoot {
            log("cold runs skipped: dropping caches needs root")
            return cases.map { BenchResult(benchCase: $0, samples: [], error: .skipped("dropping caches needs root")) }
        }
        if cache == .warm {
            do {
                try files.warmPageCache()
            } catch {
                let failure = BenchError.call("reading the data files", error)
                return cases.map { BenchResult(benchCase: $0, samples: [], error: failure) }
            }
        }
        return repeatInterleaved(cases, repetitions: configuration.repetitions, unavailable: unavailable)
    }

    // MARK: Setup-only runs

    private func runSetup(unavailable: [BenchMethod: BenchError]) -> [BenchResult] {
        var results: [BenchResult] = []
        for segments in configuration.setupSegments {
            var skipped = unavailable
            if segments > configuration.mapFixedMaxSegments {
                skipped[.mapFixed] = .skipped(
                    "more segments than --map-fixed-max-segments \(BenchFormat.grouped(configuration.mapFixedMaxSegments))")
            }
            let cases = configuration.setupMethods.map { BenchCase.setup($0, segments: segments) }
            results += repeatInterleaved(cases, repetitions: configuration.setupRepetitions, unavailable: skipped)
        }
        return results
    }

    // MARK: Repetitions

    /// Runs repetition 1 of every case, then repetition 2, and so on, so
    /// that a slow spell of a shared machine hits every method alike. A case
    /// whose first repetition fails is not repeated.
    private func repeatInterleaved(_ cases: [BenchCase], repetitions: Int,
                                   unavailable: [BenchMethod: BenchError]) -> [BenchResult] {
        var samples = [[BenchSample]](repeating: [], count: cases.count)
        var firstError = [BenchError?](repeating: nil, count: cases.count)
        var laterErrors = [[BenchError]](repeating: [], count: cases.count)
        for (index, benchCase) in cases.enumerated() {
            if let error = unavailable[benchCase.method] { firstError[index] = error }
        }
        for repetition in 1...max(1, repetitions) {
            for (index, benchCase) in cases.enumerated() where firstError[index] == nil {
                let trial = BenchTrial(benchCase: benchCase, files: files)
                let outcome = BenchChildRun.run(timeout: configuration.timeout) { () throws(BenchError) in
                    try trial.run().encoded
                }
                BenchSystem.settle()
                switch outcome {
                case .success(let text):
                    if let sample = BenchSample(encoded: text) {
                        samples[index].append(sample)
                        log("\(benchCase.label) [\(repetition)/\(repetitions)]: \(BenchFormat.brief(sample))")
                    } else {
                        laterErrors[index].append(.failed("unreadable result"))
                    }
                case .failure(let error):
                    log("\(benchCase.label) [\(repetition)/\(repetitions)]: \(error)")
                    if samples[index].isEmpty { firstError[index] = error } else { laterErrors[index].append(error) }
                }
            }
        }
        return cases.indices.map {
            BenchResult(benchCase: cases[$0], samples: samples[$0], error: firstError[$0], laterErrors: laterErrors[$0])
        }
    }

    // MARK: Sharing

    private func runSharing(unavailable: [BenchMethod: BenchError]) -> [BenchSharingResult] {
        let pages = min(configuration.sharingPages, configuration.pages)
        let layout = BenchLayout(pages: pages, fragmentation: configuration.sharingFragmentation)
        let dropCaches = BenchSystem.isRoot && configuration.caches.contains(.cold)
        var results: [BenchSharingResult] = []
        for method in [BenchMethod.overlay, .merge] where configuration.methods.contains(method) {
            for processes in [1, configuration.sharingProcesses] {
                var samples: [BenchSharingSample] = []
                var error = unavailable[method]
                if error == nil {
                    for repetition in 1...max(1, configuration.sharingRepetitions) {
                        let sharing = BenchSharing(method: method, processes: processes, layout: layout, files: files,
                                                   dropCaches: dropCaches)
                        let outcome = BenchChildRun.run(timeout: configuration.timeout) { () throws(BenchError) in
                            try sharing.run().encoded
                        }
                        let label = "sharing \(method.rawValue) x\(processes) [\(repetition)/\(configuration.sharingRepetitions)]"
                        switch outcome {
                        case .success(let text):
                            guard let sample = BenchSharingSample(encoded: text) else { continue }
                            samples.append(sample)
                            log("\(label): total \(sample.totalKiB / 1024) MiB, Pss \(sample.pssKiB / 1024) MiB")
                        case .failure(let failure):
                            log("\(label): \(failure)")
                            error = failure
                        }
                        if error != nil { break }
                    }
                }
                results.append(BenchSharingResult(method: method, processes: processes, pages: pages,
                                                  fragmentation: layout.fragmentation, samples: samples,
                                                  error: samples.isEmpty ? error : nil))
            }
        }
        return results
    }
}
