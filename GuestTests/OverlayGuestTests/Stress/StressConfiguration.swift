// SPDX-License-Identifier: GPL-2.0-or-later
import SampleFiles

/// The size and seed of one stress run.
///
/// What a seed fixes: every request, mapping change and page a part
/// chooses, per thread. What it cannot fix: how the threads interleave, so
/// a concurrent part's tallies vary a little from run to run.
struct StressConfiguration: Sendable {
    var seed: UInt64
    /// Fuzzed requests in all (the fuzzer's threads share them out).
    var requests: Int
    /// Soak rounds.
    var soakRounds: Int
    /// Threads that race (creates, cleanups, fuzzed requests).
    var threads: Int
    /// How much unreclaimable slab the soak may leave behind, in KiB.
    var slabToleranceKiB: Int = SoakStress.slabToleranceKiB

    /// Rounds of concurrent identical creates: one per 100 fuzzed requests.
    var raceRounds: Int { max(10, requests / 100) }
    /// Random stacks checked against the model: one per 10 soak rounds.
    var stackRounds: Int { max(8, soakRounds / 10) }
    /// Rounds of the layer-churn part (truncate, punch, regrow while read).
    var churnRounds: Int { max(20, requests / 250) }

    /// The seed of part `index`: parts draw from streams of their own, so
    /// running one part alone (`--filter`) gives it the same choices.
    func seed(ofPart index: Int) -> UInt64 {
        var generator = SplitMix64(seed: seed)
        var value: UInt64 = 0
        for _ in 0...index { value = generator.next() }
        return value
    }
}
