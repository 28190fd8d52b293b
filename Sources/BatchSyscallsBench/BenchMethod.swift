// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

/// A way to get a private view of a base file with overlay pages laid over
/// it: this module, and what users would do without it.
enum BenchMethod: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// A plain `MAP_PRIVATE` mapping of the base file: the cost of any file
    /// mapping, and the yardstick of the others.
    case floor
    /// This module: a mapping of the base file, one ioctl on
    /// /dev/batch_syscalls.
    case overlay
    /// A mapping of the base file, then one `mmap(MAP_FIXED|MAP_PRIVATE)`
    /// of the overlay file per segment.
    case mapFixed = "map-fixed"
    /// Anonymous memory registered with userfaultfd; a handler thread serves
    /// each missing page with `UFFDIO_COPY` from the right file.
    case userfaultfd
    /// Anonymous memory filled before use: the base file read whole, then
    /// each overlay segment read over it.
    case merge
    /// A writable private mapping of the base file, each overlay segment
    /// read into it with pread before the first touch (private copies of
    /// the overlay's pages only). Runs only when named (`--methods`).
    case eager

    /// The methods run when `--methods` names none: all but eager (the
    /// restores' sparse case is where it tells something).
    static var defaultCases: [BenchMethod] { allCases.filter { $0 != .eager } }

    /// One line for tables and `--help`.
    var summary: String {
        switch self {
        case .floor: "plain MAP_PRIVATE mmap of the base file"
        case .overlay: "mmap of the base file + one ioctl (this module)"
        case .mapFixed: "mmap of the base file + one mmap(MAP_FIXED) per segment"
        case .userfaultfd: "anonymous memory + userfaultfd handler (UFFDIO_COPY per page)"
        case .merge: "anonymous memory: read the base, read each segment over it"
        case .eager: "writable mmap of the base file, pread of each segment into it"
        }
    }

    /// Whether a warm run first touches the view once, untimed, and empties
    /// its page tables with `MADV_DONTNEED`: the file-mapping methods,
    /// whose warm state is a filled page cache behind the view.
    /// userfaultfd starts from cached files (its handler's own mappings
    /// fresh, as in a restore); merge and eager have their data before the
    /// first touch (`MADV_DONTNEED` would drop eager's copies).
    var warmsItsView: Bool { self == .floor || self == .overlay || self == .mapFixed }

    /// Whether the method shows the overlay's segments (the floor shows the
    /// base file alone).
    var composesLayers: Bool { self != .floor }

    static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// The state of the page cache when a measurement starts.
enum BenchCache: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `sync; echo 3 > /proc/sys/vm/drop_caches` just before setup: every
    /// page comes from the disk (root only).
    case cold
    /// The files' pages are cached before setup; the file-mapping methods'
    /// views are touched once, untimed, then `MADV_DONTNEED` empties their
    /// page tables (so the overlay's own page cache is filled too).
    case warm
}

extension BenchMethod {
    /// Composes the view of `input` with this method.
    func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        switch self {
        case .floor: try BenchFloorSetup.setUp(input)
        case .overlay: try BenchOverlaySetup.setUp(input)
        case .mapFixed: try BenchMapFixedSetup.setUp(input)
        case .userfaultfd: try BenchUserfaultfdSetup.setUp(input)
        // The restores' sparse case (the fleet): each restore its own merged file.
        case .merge: input.dirtyPages != nil ? try BenchMergedFileSetup.setUp(input) : try BenchMergeSetup.setUp(input)
        case .eager: try BenchEagerSetup.setUp(input)
        }
    }
}
