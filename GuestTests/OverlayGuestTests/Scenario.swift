// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting

/// One end-to-end test: one TAP line. The body runs in a process of its
/// own; it records failures with `expect`/`Log.fail`, aborts by throwing,
/// and skips by throwing `SkipScenario`.
struct Scenario {
    let name: String
    /// It changes the guest until the next boot (Yama's ptrace_scope 3
    /// cannot be lowered again): `tap` runs it only with `--irreversible`,
    /// which vm/guest-suite passes in its last step, and nothing else then.
    let irreversible: Bool
    let body: () throws -> Void

    init(_ name: String, irreversible: Bool = false, _ body: @escaping () throws -> Void) {
        self.name = name
        self.irreversible = irreversible
        self.body = body
    }

    /// Every scenario, in run order. The module reload runs last: if it
    /// breaks the module, only it fails.
    static var all: [Scenario] {
        PageFaultScenarios.all + CopyOnWriteScenarios.all + MultithreadScenarios.all + ForkScenarios.all
            + LifecycleScenarios.all + ReverseMapScenarios.all + ErrnoScenarios.all + SegmentScenarios.all
            + MapFilesScenarios.all + LayerScenarios.all + StackRequestScenarios.all + FuseScenarios.all
            + SharingScenarios.all + FleetScenarios.all + RemoteScenarios.all + UnmodifiedClientScenarios.all
            + LoadingSetScenarios.all + LoadingSetFileScenarios.all + MemoryFailureScenarios.all
            + MappingAdviceScenarios.all + ReadaheadScenarios.all + GuestMemoryScenarios.all + ModuleReloadScenarios.all
    }
}

/// What every scenario needs first: the device (else SKIP) and root (the
/// tests drop caches, use cgroups and /proc/self/map_files).
func openDeviceAsRoot() throws -> OverlayDevice {
    let device = try OverlayDevice.openForScenario()
    if geteuid() != 0 { throw SkipScenario("not root") }
    return device
}

/// Runs `body` with the device open; it closes when released afterwards.
func withDevice(_ body: (OverlayDevice) throws -> Void) throws {
    try body(try openDeviceAsRoot())
}
