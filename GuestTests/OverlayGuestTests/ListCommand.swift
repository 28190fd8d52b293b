// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import GuestTestKit

/// `overlay-tests list`: the scenario names, in run order.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print the scenario names, in run order (what --filter matches against)."
    )

    func run() {
        for scenario in Scenario.all { OutputLine.write(scenario.name) }
    }
}
