// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// Memory of several processes that each use the composed view: the
/// overlay (one overlay, created before the processes fork, so all of them
/// map the same overlay file and share its page cache) against merge (each
/// process reads its own copy).
struct BenchSharing {
    let method: BenchMethod
    let processes: Int
    let layout: BenchLayout
    let files: BenchDataFiles
    /// Drop caches first (root, and cold runs selected), so that the page
    /// cache's growth can be counted; else only the Pss sum is.
    let dropCaches: Bool

    /// Runs the measurement in the calling process (a child of the bench):
    /// drops caches (see ``dropCaches``), sets up, forks the workers, waits until each
    /// has read every page, reads the memory counters while they all still
    /// hold their pages, then lets them exit.
    func run() throws(BenchError) -> BenchSharingSample {
        if dropCaches {
            do {
                try PageCache.drop()
            } catch {
                throw .failed("cannot drop caches: \(error.name)")
            }
        }
        let before = BenchSystem.memoryInfo()
        let input = try BenchInput(files: files, layout: layout, method: method, writable: false)
        // The overlay exists before the fork: every worker inherits the
        // same mapping of the same overlay file.
        let shared: BenchRegion? = method == .overlay ? try BenchOverlaySetup.setUp(input) : nil
        let expected = BenchDataFiles.expectedChecksum(layout: layout, composed: true)

        // Released, waited for and closed when it goes, on every path.
        let workers = try BenchWorkers()
        let ready = workers.reports
        for _ in 0..<processes {
            try workers.start {
                guard let region = shared ?? (try? BenchMergeSetup.setUp(input)) else {
                    ready.send(1)
                    return 1
                }
                ready.send(BenchTouch.read(region.address, pages: region.pages) == expected ? 0 : 2)
                // Hold the pages until the parent has counted them.
                workers.holdUntilReleased()
            }
        }
        workers.allStarted()
        var statuses: [UInt8] = []
        while statuses.count < processes {
            var byte: UInt8 = 0
            let count = read(ready.readEnd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { throw .failed("a worker exited before reading every page") }
            statuses.append(byte)
        }
        if statuses.contains(1) { throw .failed("a worker could not set up its memory") }

        var sample = BenchSharingSample()
        sample.contentsMatch = !statuses.contains(2)
        let after = BenchSystem.memoryInfo()
        if dropCaches, let cachedBefore = before["Cached"], let cachedAfter = after["Cached"] {
            sample.cacheKiB = cachedAfter - cachedBefore
        }
        if let anonBefore = before["AnonPages"], let anonAfter = after["AnonPages"] {
            sample.anonymousKiB = anonAfter - anonBefore
        }
        for worker in workers.processes {
            guard let memory = BenchProcessMemory.of(worker.id) else { continue }
            sample.pssKiB += memory.pss
            sample.rssKiB += memory.rss
        }
        if method == .overlay, let listed = try? LiveOverlay.all(),
           let mine = listed.first(where: { $0.processID == Int(getpid()) }) {
            sample.overlayCachedPages = mine.cachedPages
        }
        withExtendedLifetime(shared) {}
        return sample
    }
}

/// What one sharing measurement found, in KiB.
struct BenchSharingSample: Sendable {
    /// Growth of the page cache (/proc/meminfo `Cached`) after dropping
    /// caches; root only.
    var cacheKiB: Int?
    /// Growth of anonymous memory (/proc/meminfo `AnonPages`).
    var anonymousKiB: Int?
    /// Sum of the workers' proportional set sizes (smaps_rollup `Pss`):
    /// the memory they map, shared pages counted once.
    var pssKiB = 0
    /// Sum of their resident set sizes: shared pages counted in each.
    var rssKiB = 0
    /// The overlay's own cached pages, from the module's debugfs listing.
    var overlayCachedPages: Int?
    var contentsMatch = true

    /// Page cache plus anonymous memory when both are known (root), else
    /// the Pss sum (which misses unmapped page cache).
    var totalKiB: Int {
        if let cacheKiB, let anonymousKiB { return cacheKiB + anonymousKiB }
        return pssKiB
    }

    var encoded: String {
        var lines = ["pss=\(pssKiB)", "rss=\(rssKiB)", "match=\(contentsMatch)"]
        if let cacheKiB { lines.append("cache=\(cacheKiB)") }
        if let anonymousKiB { lines.append("anon=\(anonymousKiB)") }
        if let overlayCachedPages { lines.append("overlay_cached=\(overlayCachedPages)") }
        return lines.joined(separator: "\n") + "\n"
    }

    init() {}

    init?(encoded text: String) {
        let values = BenchSharingSample.fields(text)
        guard let pss = values["pss"].flatMap({ Int($0) }), let rss = values["rss"].flatMap({ Int($0) }) else {
            return nil
        }
        pssKiB = pss
        rssKiB = rss
        contentsMatch = values["match"] != "false"
        cacheKiB = values["cache"].flatMap { Int($0) }
        anonymousKiB = values["anon"].flatMap { Int($0) }
        overlayCachedPages = values["overlay_cached"].flatMap { Int($0) }
    }

    private static func fields(_ text: String) -> [Substring: Substring] {
        var values: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals]] = line[line.index(after: equals)...]
        }
        return values
    }
}

/// The sharing measurement of one method and process count over its
/// repetitions.
struct BenchSharingResult: Sendable {
    let method: BenchMethod
    let processes: Int
    let pages: Int
    let fragmentation: Int
    let samples: [BenchSharingSample]
    let error: BenchError?

    var totalKiB: Int? { benchMedian(samples.map(\.totalKiB)) }
    var cacheKiB: Int? { benchMedian(samples.compactMap(\.cacheKiB)) }
    var anonymousKiB: Int? { benchMedian(samples.compactMap(\.anonymousKiB)) }
    var pssKiB: Int? { benchMedian(samples.map(\.pssKiB)) }
    var rssKiB: Int? { benchMedian(samples.map(\.rssKiB)) }
    var overlayCachedPages: Int? { benchMedian(samples.compactMap(\.overlayCachedPages)) }
    var contentsMatch: Bool? { samples.isEmpty ? nil : samples.allSatisfy(\.contentsMatch) }
    /// How the total was counted.
    var totalSource: String {
        samples.first.map { $0.cacheKiB != nil && $0.anonymousKiB != nil } == true
            ? "meminfo Cached + AnonPages growth" : "sum of Pss"
    }
}
