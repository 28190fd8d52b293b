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

    /// `scenarios` whose name contains `--filter`.
    func selected(_ scenarios: [Scenario]) -> [Scenario] {
        guard let filter else { return scenarios }
        return scenarios.filter { $0.name.contains(filter) }
    }
}
