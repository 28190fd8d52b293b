// SPDX-License-Identifier: GPL-2.0-or-later

/// What the processes of a restore measurement restore.
enum BenchRestoreKind: String, CaseIterable, Sendable {
    /// Every process restores the same snapshot: the same base, the same
    /// diff file, the same segments (VMs started from one template).
    case template
    /// Every process restores its own diff file over one shared base (VMs
    /// that each kept their own dirty pages).
    case ownDiffs = "own diffs"
    /// Every process restores its own sparse diff file over one shared
    /// base: dirty runs of 1 to 8 pages covering a few per cent of the view,
    /// holes elsewhere (a fleet of VMs restored from one base, each with
    /// the few pages it dirtied).
    case sparseOwnDiffs = "sparse own diffs"

    /// The name on the command line (`--restore-kinds`).
    var argument: String { String(rawValue.map { $0 == " " ? "-" : $0 }) }

    /// Whether `method` can restore this kind: userfaultfd's handler knows
    /// the every-other-run layout only.
    func runs(_ method: BenchMethod) -> Bool { self != .sparseOwnDiffs || method != .userfaultfd }
}

/// One restore measurement: P processes, one after the other, each mapping
/// the files itself, composing the view with one method and reading every
/// page; all of them hold their views until the memory is counted.
struct BenchRestoreCase: Hashable, Sendable {
    var kind: BenchRestoreKind
    var method: BenchMethod
    var processes: Int
    var cache: BenchCache

    /// For progress lines.
    var label: String { "restores \(kind.rawValue) \(method.rawValue) x\(processes) \(cache.rawValue)" }
}
