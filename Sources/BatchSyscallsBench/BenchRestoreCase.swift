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

    /// Whether `method` can restore this kind (all can: userfaultfd's
    /// handler serves a sparse diff's dirty pages from its map of them,
    /// merge writes a merged file per restore).
    func runs(_ method: BenchMethod) -> Bool { true }
}

/// One restore measurement: P processes, one after the other, each mapping
/// the files itself, composing the view with one method and reading every
/// page; all of them hold their views until the memory is counted.
struct BenchRestoreCase: Hashable, Sendable {
    var kind: BenchRestoreKind
    var method: BenchMethod
    var processes: Int
    var cache: BenchCache
    /// The sparse case's cell of the fan-out matrix: per cent of pages
    /// dirty in each diff, and per cent each process reads (0 and 100 for
    /// the other kinds).
    var dirtyPercent = 0
    var touchPercent = 100

    /// For progress lines.
    var label: String {
        let cell = kind == .sparseOwnDiffs ? " dirty \(dirtyPercent)% touch \(touchPercent)%" : ""
        return "restores \(kind.rawValue)\(cell) \(method.rawValue) x\(processes) \(cache.rawValue)"
    }
}
