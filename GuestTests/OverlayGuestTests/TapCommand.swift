// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

/// `overlay-tests tap`: every scenario, one TAP line each.
struct TapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Run the scenarios, each in its own process with a timeout, and print TAP.",
        discussion: """
            Needs root and /dev/batch_syscalls; without them every scenario is reported as \
            skipped, with the reason. With TAP_EMBEDDED=1 in the environment the header and \
            the plan are left out (the stream embedding this one writes them).

            EXAMPLES:
              Everything, in the directory of the sample files:
                overlay-tests tap

              The page_fault scenarios only, with a longer timeout:
                overlay-tests tap --filter page_fault --timeout 600 --dir /mnt/work
            """
    )

    @OptionGroup var options: ScenarioOptions

    func run() throws {
        try options.enterDirectory()
        let runner = ScenarioRunner(scenarios: options.selected(Scenario.all), timeout: Double(options.timeout ?? 180))
        throw ExitCode(runner.run())
    }
}
