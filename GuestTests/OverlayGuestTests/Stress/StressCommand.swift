// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import SampleFiles

/// `overlay-tests stress`: the stress suite. Each part is a scenario of its
/// own (own process, timeout, TAP line); everything random in it comes from
/// one seed, printed first and taken back with `--seed`.
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Run the stress suite: one TAP line per part, every random choice from one seed.",
        discussion: """
            The parts: concurrent identical creates and cleanups; a fuzzer of the create, \
            cleanup and stack requests while other threads munmap, mprotect, mremap, madvise, \
            fork, map over and write the same ranges; a soak whose slab, live overlays and \
            descriptors must return to where they started; random stacks at random file \
            offsets against a model; layers truncated, rewritten and hole-punched while mapped.

            The seed is drawn from the clock unless given, and printed first: rerun with \
            --seed to repeat every choice (the interleaving of threads is not repeatable). \
            Timeout per part 600 s unless --timeout says otherwise.

            EXAMPLES:
              The short pass of make test:
                overlay-tests stress --requests 2000 --soak-rounds 60

              Repeat a run's choices, the fuzzer alone:
                overlay-tests stress --seed 0x1234abcd --filter fuzzed
            """
    )

    @OptionGroup var options: ScenarioOptions

    @Option(help: ArgumentHelp("The seed of every random choice, decimal or 0x hex (default: from the clock).",
                               valueName: "seed"),
            transform: StressCommand.seed)
    var seed: UInt64?

    @Option(help: "Fuzzed requests in all (the fuzzer's threads share them out).")
    var requests = 3000

    @Option(name: .customLong("soak-rounds"), help: "Rounds of the soak.")
    var soakRounds = 100

    @Option(help: "Threads that race (creates, cleanups, fuzzed requests); at least 2.")
    var threads = 4

    @Option(name: .customLong("slab-tolerance"),
            help: ArgumentHelp("""
                How much unreclaimable slab the soak may leave behind, in KiB. A KASAN kernel's \
                quarantine holds freed objects, so make test-debug raises it and relies on kmemleak.
                """, valueName: "kib"))
    var slabToleranceKiB = SoakStress.slabToleranceKiB

    func validate() throws {
        guard requests >= 0, soakRounds >= 0, slabToleranceKiB >= 0 else {
            throw ValidationError("--requests, --soak-rounds and --slab-tolerance must not be negative")
        }
        guard threads >= 2 else { throw ValidationError("--threads must be at least 2 (they race), not \(threads)") }
    }

    func run() throws {
        try options.enterDirectory()
        var clock = freshGenerator()
        let seed = self.seed ?? clock.next()
        let configuration = StressConfiguration(seed: seed, requests: requests, soakRounds: soakRounds,
                                                threads: threads, slabToleranceKiB: slabToleranceKiB)
        let header = ["stress: seed=0x\(hex(seed)) requests=\(requests) soak-rounds=\(soakRounds) "
                      + "threads=\(threads) (rerun: overlay-tests stress --seed 0x\(hex(seed)) ...)"]
        let runner = ScenarioRunner(scenarios: options.selected(Self.parts(configuration)),
                                    timeout: Double(options.timeout ?? 600), header: header)
        throw ExitCode(runner.run())
    }

    static func seed(_ text: String) throws -> UInt64 {
        guard let seed = SplitMix64.seed(parsing: text) else {
            throw ValidationError("'\(text)' is not a seed: a decimal or 0x hex 64-bit number")
        }
        return seed
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
