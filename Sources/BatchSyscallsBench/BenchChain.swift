// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles

/// The chain case of `bench`: restoring a base and `diffs` sparse diffs
/// (each `extents` one-page extents) with one v2 request, against one v1
/// request per diff, `mmap(MAP_FIXED)` per extent and a merged copy: the
/// setup, then the first touch of every page, with the files' pages cached
/// and with caches dropped. Every repetition runs in a child process.
struct BenchChain {
    let layout: BenchChainLayout
    let files: BenchChainFiles
    let repetitions: Int
    let timeout: Int
    let log: (String) -> Void

    init(configuration: BenchConfiguration, log: @escaping (String) -> Void) {
        layout = BenchChainLayout(diffs: configuration.chainDiffs, extents: configuration.chainExtents)
        files = BenchChainFiles(directory: configuration.directory, layout: layout)
        repetitions = configuration.chainRepetitions
        timeout = configuration.timeout
        self.log = log
    }

    /// One method in one cache state, over the repetitions.
    struct Result: Sendable {
        let method: BenchChainMethod
        let cache: BenchCache
        var setup: [UInt64] = []
        var touch: [UInt64] = []
        var vmas: Int?
        var contentsMatch = true
        var error: BenchError?

        var medianSetup: UInt64? { Self.median(setup) }
        var medianTouch: UInt64? { Self.median(touch) }
        var medianTotal: UInt64? { Self.median(zip(setup, touch).map { $0 + $1 }) }

        static func median(_ values: [UInt64]) -> UInt64? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted[sorted.count / 2]
        }
    }

    func run() -> [Result] {
        do {
            try files.prepare(log: log)
        } catch {
            let failure = BenchError.call("writing the chain's files", error)
            return BenchChainMethod.allCases.map { Result(method: $0, cache: .warm, error: failure) }
        }
        let noDevice: BenchError? = BenchOverlaySetup.unavailability().map { .unavailable($0) }
        let expected = layout.expectedChecksum
        var results: [Result] = []
        for cache in [BenchCache.warm, .cold] {
            var cacheResults = BenchChainMethod.allCases.map { Result(method: $0, cache: cache) }
            if cache == .cold && !BenchSystem.isRoot {
                for index in cacheResults.indices { cacheResults[index].error = .skipped("dropping caches needs root") }
                results += cacheResults
                continue
            }
            for repetition in 1...max(1, repetitions) {
                for (index, method) in BenchChainMethod.allCases.enumerated() where cacheResults[index].error == nil {
                    if method.needsDevice, let noDevice {
                        cacheResults[index].error = noDevice
                        continue
                    }
                    if cache == .warm {
                        do { try files.warmPageCache() } catch {
                            cacheResults[index].error = .call("reading the chain's files", error)
                            continue
                        }
                    }
                    let outcome = BenchChildRun.run(timeout: timeout) { () throws(BenchError) in
                        try trial(method, cache: cache, expected: expected)
                    }
                    BenchSystem.settle()
                    let label = "chain \(method.rawValue) \(cache == .warm ? "cached" : "cold") [\(repetition)/\(repetitions)]"
                    switch outcome {
                    case .success(let text):
                        let fields = text.split(separator: " ").map { UInt64($0) ?? 0 }
                        guard fields.count == 4 else {
                            cacheResults[index].error = .failed("unreadable result")
                            continue
                        }
                        cacheResults[index].setup.append(fields[0])
                        cacheResults[index].touch.append(fields[1])
                        cacheResults[index].vmas = Int(fields[2])
                        if fields[3] != 1 { cacheResults[index].contentsMatch = false }
                        log("\(label): setup \(BenchFormat.duration(fields[0])), first touch \(BenchFormat.duration(fields[1]))"
                            + (fields[3] == 1 ? "" : ", WRONG CONTENTS"))
                    case .failure(let error):
                        log("\(label): \(error)")
                        if cacheResults[index].setup.isEmpty { cacheResults[index].error = error }
                    }
                }
            }
            results += cacheResults
        }
        return results
    }

    /// One repetition, in the child: "setup touch vmas match".
    private func trial(_ method: BenchChainMethod, cache: BenchCache, expected: UInt64) throws(BenchError) -> String {
        let input = try BenchChainInput(files: files)
        if cache == .cold {
            do { try PageCache.drop() } catch { throw .skipped("cannot drop caches: \(error.name)") }
        }
        defer { withExtendedLifetime(input) {} }
        let start = Stopwatch.now()
        let region = try input.setUp(method)
        let setup = Stopwatch.now() - start
        var sum: UInt64 = 0
        let touch = Stopwatch.nanoseconds { sum = BenchTouch.read(region.address, pages: region.pages) }
        let vmas = BenchProcessMemory.vmaCount(overlapping: region.address, length: region.length) ?? 0
        return "\(setup) \(touch) \(vmas) \(sum == expected ? 1 : 0)"
    }

    /// The table: each method's setup and first touch, and each against
    /// the v2 request's, per cache state.
    static func table(_ results: [Result]) -> BenchTextTable {
        var table = BenchTextTable(headers: ["method", "files", "setup", "vs v2", "first touch", "setup + touch", "vs v2",
                                             "VMAs", "contents"],
                                   rightAligned: [2, 3, 4, 5, 6, 7])
        for result in results {
            let reference = results.first { $0.method == .stack && $0.cache == result.cache }
            func ratio(_ value: UInt64?, _ base: UInt64?) -> String {
                guard let value, let base, base > 0 else { return "-" }
                return BenchFormat.ratio(Double(value) / Double(base))
            }
            let files = result.cache == .warm ? "cached" : "cold"
            if let error = result.error {
                table.add([result.method.rawValue, files, error.status, "", "", "", "", "", error.reason])
                continue
            }
            table.add([result.method.rawValue, files, BenchFormat.duration(result.medianSetup),
                       ratio(result.medianSetup, reference?.medianSetup), BenchFormat.duration(result.medianTouch),
                       BenchFormat.duration(result.medianTotal), ratio(result.medianTotal, reference?.medianTotal),
                       result.vmas.map { BenchFormat.grouped($0) } ?? "-", result.contentsMatch ? "right" : "WRONG"])
        }
        return table
    }
}
