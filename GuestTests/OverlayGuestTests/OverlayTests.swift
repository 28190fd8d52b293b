// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import CGuestTestKit

/// `overlay-tests`: the end-to-end tests of batch-syscalls.ko, run in the
/// QEMU guest.
@main
struct OverlayTests: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay-tests",
        abstract: "End-to-end tests of batch-syscalls.ko (run them in the guest: vm/run, make test).",
        discussion: """
            Each scenario runs in a process of its own with a timeout and reports one TAP \
            line (TAP version 13; see docs/testing.md). Run them as root with the module \
            loaded, in a directory holding the sample files (`batch-syscalls sample-files`); \
            without the device every scenario is skipped.
            """,
        subcommands: [TapCommand.self, StressCommand.self, ListCommand.self, DemoCommand.self]
    )

    static func main() {
        // SIGBUS from a page past the end of a layer file becomes a result,
        // not a death.
        _ = batch_syscalls_probe_install()
        main(nil)
    }
}
