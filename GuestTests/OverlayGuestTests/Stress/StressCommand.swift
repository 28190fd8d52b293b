// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SampleFiles

/// `overlay-tests stress`: the stress suite. Each part is a scenario of its
/// own (own process, timeout, TAP line); everything random in it comes from
/// one seed, printed first and taken back with `--seed`.
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

enum StressCommand {
    static let usage = """
          stress [--seed S] [--requests N] [--soak-rounds R] [--threads T]
                 [--slab-tolerance KIB] [--filter SUBSTRING] [--timeout SECONDS] [--dir D]
              The stress suite (TAP, one line per part, like tap): concurrent
              identical creates and cleanups; a fuzzer of the create, cleanup and
              stack requests while other threads munmap, mprotect, mremap,
              madvise, fork, map over and write the same ranges; a soak whose
              slab, live overlays and descriptors must return to where they
              started; random stacks at random file offsets against a model;
              layers truncated, rewritten and hole-punched while mapped.
              Defaults: a short pass (--requests 3000 --soak-rounds 100
              --threads 4); the seed is drawn from the clock unless given, and
              printed (rerun with --seed to repeat the choices). Timeout per part
              600 s. --slab-tolerance: the soak's allowance for unreclaimable
              slab growth (default 96 kB; a KASAN kernel's quarantine holds
              freed objects, so make test-debug raises it and relies on
              kmemleak).
        """

    static func run(_ arguments: Arguments) throws -> Int32 {
        if let directory = arguments.string("dir"), chdir(directory) != 0 {
            throw SysError("cd \(directory)")
        }
        var clock = freshGenerator()
        let seed = try arguments.unsigned64("seed", default: clock.next())
        let configuration = StressConfiguration(
            seed: seed, requests: try arguments.integer("requests", default: 3000),
            soakRounds: try arguments.integer("soak-rounds", default: 100),
            threads: max(2, try arguments.integer("threads", default: 4)),
            slabToleranceKiB: try arguments.integer("slab-tolerance", default: SoakStress.slabToleranceKiB))
        let timeout = try arguments.integer("timeout", default: 600)
        let filter = arguments.string("filter")
        let scenarios = parts(configuration).filter { filter == nil || $0.name.contains(filter!) }
        let header = ["stress: seed=0x\(hex(seed)) requests=\(configuration.requests) soak-rounds=\(configuration.soakRounds) "
                      + "threads=\(configuration.threads) (rerun: overlay-tests stress --seed 0x\(hex(seed)) ...)"]
        return TapRunner(scenarios: scenarios, timeout: Double(timeout), header: header).run()
    }

    static func parts(_ configuration: StressConfiguration) -> [Scenario] {
        let c = configuration
        return [
            Scenario("stress: \(c.raceRounds) rounds of \(c.threads) identical creates, then \(c.threads) cleanups of the id, on one mapping") {
                try CreateRaceStress(configuration: c, seed: c.seed(ofPart: 0)).run()
            },
            Scenario("stress: \(c.requests) fuzzed create, cleanup and stack requests while mappings change under them") {
                try RequestFuzzer(configuration: c, seed: c.seed(ofPart: 1)).run()
            },
            Scenario("stress: soak of \(c.soakRounds) create/touch/write/cleanup/munmap/fork/exit rounds: slab, overlays and descriptors return") {
                try SoakStress(configuration: c, seed: c.seed(ofPart: 2)).run()
            },
            Scenario("stress: \(c.stackRounds) random stacks at random base file offsets, page by page against the model") {
                try StackModelStress(configuration: c, seed: c.seed(ofPart: 3)).run()
            },
            Scenario("stress: layers rewritten, truncated, regrown and hole-punched while mapped") {
                try ChangingLayerStress(configuration: c, seed: c.seed(ofPart: 4)).run()
            },
        ]
    }
}
