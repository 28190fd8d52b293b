// SPDX-License-Identifier: GPL-2.0-or-later

/// The project's performance targets, checked against the results: each
/// holds, misses, or cannot be told (its measurements are missing).
struct BenchTarget: Sendable {
    /// One comparison a target makes.
    struct Check: Sendable {
        /// Which measurement (`N=1`, `50,000 segments`).
        var label: String
        /// The number compared, as printed (`1.07x`).
        var value: String
        var held: Bool
    }

    /// What the target asks, in words.
    var goal: String
    var checks: [Check] = []
    /// Why it cannot be told, when no check could be made.
    var missing: String?

    /// Held when every check held; nil when there were none.
    var held: Bool? { checks.isEmpty ? nil : checks.allSatisfy(\.held) }

    var verdict: String {
        switch held {
        case true?: "holds"
        case false?: "missed"
        case nil: "not measured"
        }
    }

    /// The targets, evaluated.
    static func evaluate(_ results: BenchRunner.Results) -> [BenchTarget] {
        let lookup = BenchLookup(results)
        var targets: [BenchTarget] = []

        for (cache, limit) in [(BenchCache.warm, 1.10), (.cold, 1.25)] {
            var target = BenchTarget(goal: cache == .warm
                ? "overlay touch within 1.10x of floor with the overlay's pages cached (N = 1, 10)"
                : "overlay touch within 1.25x of floor on cold first touch (N = 1, 10)")
            for fragmentation in [1, 10] {
                guard let ratio = lookup.touchRatioToFloor(.overlay, fragmentation: fragmentation, cache: cache) else {
                    continue
                }
                target.checks.append(Check(label: "N=\(fragmentation)", value: BenchFormat.ratio(ratio),
                                           held: ratio <= limit))
            }
            targets.append(target)
        }

        var setup = BenchTarget(goal: "setup at least 100x faster than map-fixed at 50,000 segments, with 1 VMA")
        if let overlay = lookup.setup(.overlay, segments: 50_000), let mapFixed = lookup.setup(.mapFixed, segments: 50_000),
           let overlayTime = overlay.setupNanoseconds, let mapFixedTime = mapFixed.setupNanoseconds {
            let ratio = Double(mapFixedTime) / Double(max(overlayTime, 1))
            setup.checks.append(Check(label: "setup map-fixed / overlay", value: BenchFormat.ratio(ratio),
                                      held: ratio >= 100))
            if let vmas = overlay.vmas {
                let mapFixedVMAs = mapFixed.vmas.map { BenchFormat.grouped($0) } ?? "?"
                setup.checks.append(Check(label: "VMAs overlay (map-fixed)", value: "\(vmas) (\(mapFixedVMAs))",
                                          held: vmas == 1))
            }
        }
        targets.append(setup)

        var firstTouch = BenchTarget(goal: "first touch at least 3x faster than userfaultfd")
        for fragmentation in lookup.fragmentations {
            if let overlay = lookup.touch(.overlay, fragmentation: fragmentation, cache: .cold)?.touchNanoseconds,
               let userfaultfd = lookup.touch(.userfaultfd, fragmentation: fragmentation, cache: .cold)?.touchNanoseconds {
                let ratio = Double(userfaultfd) / Double(max(overlay, 1))
                firstTouch.checks.append(Check(label: "cold, N=\(fragmentation)", value: BenchFormat.ratio(ratio),
                                               held: ratio >= 3))
            }
            // Warm: the overlay's first touch is the untimed fill of a new
            // overlay over cached layers, the same state userfaultfd starts
            // from in its warm runs.
            if let overlay = lookup.touch(.overlay, fragmentation: fragmentation, cache: .warm)?.warmupTouchNanoseconds,
               let userfaultfd = lookup.touch(.userfaultfd, fragmentation: fragmentation, cache: .warm)?.touchNanoseconds {
                let ratio = Double(userfaultfd) / Double(max(overlay, 1))
                firstTouch.checks.append(Check(label: "layers cached, N=\(fragmentation)",
                                               value: BenchFormat.ratio(ratio), held: ratio >= 3))
            }
        }
        targets.append(firstTouch)

        var sharing = BenchTarget(goal: "sharing: N processes on one overlay use at most 1.2x the memory of one")
        if let one = lookup.sharing(.overlay, processes: 1)?.totalKiB,
           let many = results.sharing.first(where: { $0.method == .overlay && $0.processes > 1 }),
           let manyTotal = many.totalKiB {
            let ratio = Double(manyTotal) / Double(max(one, 1))
            sharing.checks.append(Check(label: "\(many.processes) processes / 1", value: BenchFormat.ratio(ratio),
                                        held: ratio <= 1.2))
        }
        targets.append(sharing)

        targets += BenchRestoreTables(results: results.restores).targets

        for index in targets.indices where targets[index].checks.isEmpty {
            targets[index].missing = "its measurements are missing (unavailable, skipped or not selected)"
        }
        return targets
    }
}

/// Finds results by method, layout and cache.
struct BenchLookup {
    let results: BenchRunner.Results

    init(_ results: BenchRunner.Results) { self.results = results }

    /// Fragmentations measured, in order.
    var fragmentations: [Int] {
        var seen: [Int] = []
        for result in results.touch where result.benchCase.method != .floor
            && !seen.contains(result.benchCase.fragmentation) {
            seen.append(result.benchCase.fragmentation)
        }
        return seen
    }

    func touch(_ method: BenchMethod, fragmentation: Int, cache: BenchCache) -> BenchResult? {
        results.touch.first {
            $0.benchCase.method == method && $0.benchCase.cache == cache
                && (method == .floor || $0.benchCase.fragmentation == fragmentation) && $0.hasNumbers
        }
    }

    func floor(cache: BenchCache) -> BenchResult? { touch(.floor, fragmentation: 1, cache: cache) }

    /// A method's touch time over the floor's, same cache state.
    func touchRatioToFloor(_ method: BenchMethod, fragmentation: Int, cache: BenchCache) -> Double? {
        guard let value = touch(method, fragmentation: fragmentation, cache: cache)?.touchNanoseconds,
              let floor = floor(cache: cache)?.touchNanoseconds, floor > 0 else { return nil }
        return Double(value) / Double(floor)
    }

    /// A method's write-touch time over the floor's.
    func writeRatioToFloor(_ method: BenchMethod, fragmentation: Int, cache: BenchCache) -> Double? {
        guard let value = touch(method, fragmentation: fragmentation, cache: cache)?.writeTouchNanoseconds,
              let floor = floor(cache: cache)?.writeTouchNanoseconds, floor > 0 else { return nil }
        return Double(value) / Double(floor)
    }

    func setup(_ method: BenchMethod, segments: Int) -> BenchResult? {
        results.setup.first { $0.benchCase.method == method && $0.benchCase.segments == segments && $0.hasNumbers }
    }

    func sharing(_ method: BenchMethod, processes: Int) -> BenchSharingResult? {
        results.sharing.first { $0.method == method && $0.processes == processes && !$0.samples.isEmpty }
    }
}
