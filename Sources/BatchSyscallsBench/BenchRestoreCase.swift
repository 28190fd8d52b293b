// SPDX-License-Identifier: GPL-2.0-or-later

/// What the processes of a restore measurement restore.
enum BenchRestoreKind: String, CaseIterable, Sendable {
    /// Every process restores the same snapshot: the same base, the same
    /// diff file, the same segments (VMs started from one template).
    case template
    /// Every process restores its own diff file over one shared base (VMs
    /// that each kept their own dirty pages).
    case ownDiffs = "own diffs"
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
