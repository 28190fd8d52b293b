// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc

/// What `tap` and `stress` share: where the sample files are, which
/// scenarios run, and how long each may take.
struct ScenarioOptions: ParsableArguments {
    @Option(name: .customLong("dir"),
            help: ArgumentHelp("The directory holding the sample files; scratch files go there too (default: the working directory).",
                               valueName: "directory"))
    var directory: String?

    @Option(help: ArgumentHelp("Run only the scenarios whose name contains this.", valueName: "substring"))
    var filter: String?

    @Flag(help: ArgumentHelp("Run only the scenarios that change the system until the next boot (Yama's ptrace_scope 3); without it they are left out. Run them last."))
    var irreversible = false

    @Option(help: ArgumentHelp("Seconds one scenario may run before it is killed and fails (default: 180; stress: 600).",
                               valueName: "seconds"))
    var timeout: Int?

    func validate() throws {
        if let timeout, timeout < 1 { throw ValidationError("--timeout must be at least 1 second, not \(timeout)") }
    }

    /// Changes to `--dir`, if given.
    func enterDirectory() throws {
        if let directory, chdir(directory) != 0 {
            throw ValidationError("--dir \(directory): cannot change to it: \(String(cString: strerror(errno)))")
        }
    }

    /// `scenarios` whose name contains `--filter`, the irreversible ones
    /// only with `--irreversible`, the others only without it.
    func selected(_ scenarios: [Scenario]) -> [Scenario] {
        scenarios.filter { scenario in
            guard scenario.irreversible == irreversible else { return false }
            guard let filter else { return true }
            return scenario.name.contains(filter)
        }
    }
}
