// SPDX-License-Identifier: GPL-2.0-or-later
// overlay-tests: end-to-end tests of batch-syscalls.ko, run in the QEMU
// guest (see `overlay-tests help`).
import CGuestTestSupport
import Glibc
import GuestTestSupport

let usage = """
    usage: overlay-tests <subcommand> [options]

      tap [--filter SUBSTRING] [--timeout SECONDS] [--dir D]
          Run the scenarios (or those whose name contains SUBSTRING), each in
          its own process with a timeout (default 180 s), in the directory
          holding the data files (`batch-syscalls sample-files`; the working directory, or D); print TAP
          version 13. Needs root and /dev/batch_syscalls; without them every
          scenario is skipped. Scratch files go to the same directory.

      list
          Print the scenario names.

    \(StressCommand.usage)

      demo
          Run the seed's page_fault example and show which pages of the
          overlaid mapping show the overlay and which the base file; then
          restore a chain of three sparse diffs with one v2 request and
          show which layer serves which pages.
    """

// SIGBUS from a page past the end of a layer file becomes a result, not a death.
_ = batch_syscalls_probe_install()

func main() -> Int32 {
    let arguments = Array(CommandLine.arguments.dropFirst())
    do {
        switch arguments.first {
        case "tap":
            let parsed = try Arguments(arguments, options: ["filter", "timeout", "dir"])
            if let directory = parsed.string("dir"), chdir(directory) != 0 {
                throw SysError("cd \(directory)")
            }
            let timeout = try parsed.integer("timeout", default: 180)
            let filter = parsed.string("filter")
            let scenarios = Scenario.all.filter { filter == nil || $0.name.contains(filter!) }
            return TapRunner(scenarios: scenarios, timeout: Double(timeout)).run()
        case "stress":
            let parsed = try Arguments(arguments, options: ["seed", "requests", "soak-rounds", "threads", "slab-tolerance", "filter",
                                                            "timeout", "dir"])
            return try StressCommand.run(parsed)
        case "list":
            _ = try Arguments(arguments, options: [])
            for scenario in Scenario.all { OutputLine.write(scenario.name) }
            return 0
        case "demo":
            _ = try Arguments(arguments, options: [])
            return DemoCommand.run()
        case "help", "--help", "-h":
            OutputLine.write(usage)
            return 0
        default:
            OutputLine.write(usage, to: OutputLine.standardError)
            return 2
        }
    } catch {
        OutputLine.write("overlay-tests: \(error)", to: OutputLine.standardError)
        return error is Arguments.Invalid ? 2 : 1
    }
}

exit(main())
