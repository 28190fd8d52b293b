// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// What to measure, as the command line chose it.
struct BenchConfiguration: Sendable {
    var pages = 65536
    var fragmentations = [1, 10, 100]
    var setupSegments = [1_000, 50_000, 1_000_000]
    var repetitions = 5
    /// Repetitions of the setup-only runs (a million mmap calls take long in
    /// an emulated guest).
    var setupRepetitions = 5
    var methods = BenchMethod.defaultCases
    var caches = BenchCache.allCases
    /// Setup-only runs of map-fixed with more segments than this are
    /// skipped (a million mmap calls take minutes in an emulated guest).
    var mapFixedMaxSegments = Int.max
    /// Runs of each sharing measurement (memory counts vary little).
    var sharingRepetitions = 3
    /// Touch most free memory once before measuring: an emulator backs a
    /// guest's RAM on first use, which would slow the first runs only.
    var primeMemory = false
    /// Processes of the sharing measurement (0: none).
    var sharingProcesses = 8
    /// Pages each sharing process maps: eight merge copies of the whole
    /// mapping would not fit a small guest.
    var sharingPages = 16384
    /// Fragmentation of the sharing measurement's layout.
    var sharingFragmentation = 10
    /// Seconds one child may take.
    var timeout = 300
    /// The CPU every measurement runs on (all threads and children), or nil
    /// for any.
    var cpu: Int?
    var directory: FilePath = "bench-data"
    /// Process counts of the restore measurements (none: empty).
    var restores = [1, 8]
    /// Pages of each restored view.
    var restorePages = 4096
    /// The restored views' layout: the diff serves every other page.
    var restoreFragmentation = 1
    /// The restore kinds measured.
    var restoreKinds = BenchRestoreKind.allCases
    /// The sparse own diffs (the fan-out matrix): the shares of pages
    /// dirty, and of pages each process reads, per cent; each dirty share
    /// runs with each touch share.
    var restoreDirtyPercents = [1, 5, 20]
    var restoreTouchPercents = [25, 100]
    /// The methods of the sparse case (the fan-out): eager too unless
    /// `--methods` named others (eager is one of the two the fleet targets
    /// compare with).
    var fanOutMethods = BenchMethod.allCases
    /// Memory the sparse case leaves free: a method whose estimate exceeds
    /// what is available less this is not run at that P.
    var restoreMemoryMarginKiB = 256 * 1024
    /// The chain case (BenchChain): diffs (0: none), one-page extents in
    /// each, repetitions.
    var chainDiffs = 10
    var chainExtents = 10_000
    var chainRepetitions = 3
    /// The time-to-ready case (BenchReady): pages of its base (0: none),
    /// repetitions.
    var readyPages = 262_144
    var readyRepetitions = 5

    /// The methods in the setup-only runs: merge reads every page, so its
    /// setup grows with pages, not segments (the touch runs show it).
    var setupMethods: [BenchMethod] { methods.filter { $0 != .merge } }
}
