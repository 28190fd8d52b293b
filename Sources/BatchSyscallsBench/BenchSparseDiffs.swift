// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The sparse own diffs of the restores' fleet case: each process's diff
/// file holds runs of 1 to 8 dirty pages covering about `dirtyPercent` %
/// of the view and holes elsewhere (as a VMM writes a diff snapshot), the
/// runs chosen by a generator seeded per process. Each process reads
/// every page, or a seeded random `touchPercent` % of them.
struct BenchSparseDiffs: Sendable, Equatable {
    /// Pages of each view (and of each diff file).
    let pages: Int
    let dirtyPercent: Int
    let touchPercent: Int

    /// The longest dirty run.
    static let longestRun = 8

    private func generator(_ index: Int, stream: UInt64) -> SplitMix64 {
        SplitMix64(seed: BenchDataFiles.seed ^ (UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15) ^ stream)
    }

    /// Process `index`'s dirty runs, in page order, at least one clean page
    /// between two: runs of 1 to 8 pages (4.5 on average) with gaps whose
    /// mean makes them cover `dirtyPercent` % of the pages.
    func dirtyRuns(_ index: Int) -> [ClosedRange<Int>] {
        var random = generator(index, stream: 0x6469_7274)
        let meanRun = Double(1 + Self.longestRun) / 2
        let meanGap = meanRun * Double(100 - dirtyPercent) / Double(dirtyPercent)
        let widestGap = max(1, Int((2 * meanGap).rounded()) - 1)
        var runs: [ClosedRange<Int>] = []
        var page = Int.random(in: 0...widestGap, using: &random)
        while page < pages {
            let length = Int.random(in: 1...Self.longestRun, using: &random)
            runs.append(page...(min(page + length, pages) - 1))
            page += length + Int.random(in: 1...widestGap, using: &random)
        }
        return runs
    }

    /// The pages process `index` reads, in order: nil for every page.
    func touchedPages(_ index: Int) -> [Int]? {
        guard touchPercent < 100 else { return nil }
        var random = generator(index, stream: 0x746F_7563)
        return (0..<pages).filter { _ in Int.random(in: 0..<100, using: &random) < touchPercent }
    }

    /// What ``BenchTouch/read(_:pages:)`` sums over process `index`'s
    /// touched pages of its view (the base alone when not `composed`).
    func expectedChecksum(_ index: Int, composed: Bool) -> UInt64 {
        guard case .seeded(let baseStream) = BenchDataFiles.basePattern,
              case .seeded(let overlayStream) = BenchDataFiles.overlayPattern else { return 0 }
        let dirty = composed ? dirtySet(index) : []
        var sum: UInt64 = 0
        for page in touchedPages(index) ?? Array(0..<pages) {
            sum &+= UInt64(dirty.contains(page) ? overlayStream : baseStream) | UInt64(UInt32(truncatingIfNeeded: page)) << 32
        }
        return sum
    }

    private func dirtySet(_ index: Int) -> Set<Int> {
        Set(dirtyRuns(index).lazy.flatMap { Array($0) })
    }

    /// The least memory `processes` restores could hold, KiB: each page of
    /// the base some process reads from it once, and each process's
    /// touched dirty pages once.
    func idealKiB(processes: Int) -> Int {
        let parts = idealParts(processes: processes)
        return (parts.basePages + parts.diffPages) * MemoryPage.size / 1024
    }

    /// The touched dirty pages of `processes` restores, KiB: the diff part
    /// of the ideal (the base part a plain mapping's read-around may
    /// exceed: the fan-out measures that with the floor).
    func touchedDiffKiB(processes: Int) -> Int {
        idealParts(processes: processes).diffPages * MemoryPage.size / 1024
    }

    private func idealParts(processes: Int) -> (basePages: Int, diffPages: Int) {
        var basePages = Set<Int>()
        var diffPages = 0
        for index in 0..<processes {
            let dirty = dirtySet(index)
            for page in touchedPages(index) ?? Array(0..<pages) {
                if dirty.contains(page) { diffPages += 1 } else { basePages.insert(page) }
            }
        }
        return (basePages.count, diffPages)
    }

    /// An upper bound of the memory `processes` restores by `method` hold,
    /// KiB, from the files alone: the base read whole (read-around reads
    /// nearly all of it even for a 25 % touch), each diff's pages read
    /// through a mapping or with pread with a read-around window of 32 pages
    /// (the default 128 KiB) about each dirty run, the private copies each
    /// method makes, and each process's page tables and a MiB of its own.
    /// A method is run at some P only when this fits the guest's memory.
    func estimatedKiB(_ method: BenchMethod, processes: Int) -> Int {
        let window = 32
        var total = pages
        for index in 0..<processes {
            let runs = dirtyRuns(index)
            let dirty = BenchRuns(runs).pageCount
            let diffRead = min(pages, dirty + window * runs.count)
            let touched = pages * touchPercent / 100
            switch method {
            case .floor: break
            case .overlay: total += 2 * dirty
            case .mapFixed: total += diffRead
            case .eager: total += dirty + diffRead
            case .userfaultfd: total += touched + diffRead
            case .merge: total += pages + diffRead
            }
            total += pages * 8 / MemoryPage.size + 256
        }
        return total * MemoryPage.size / 1024
    }

    /// Pages of process `index`'s diff that hold data.
    func dirtyPageCount(_ index: Int) -> Int { BenchRuns(dirtyRuns(index)).pageCount }

    /// Whether the file at `path` is process `index`'s diff as written:
    /// the view's size, and no more blocks than its dirty pages (a copy
    /// that filled the holes is written anew; the contents are trusted).
    func isValid(_ path: FilePath, index: Int) -> Bool {
        var info = stat()
        guard stat(path.string, &info) == 0, Int(info.st_size) == pages * MemoryPage.size else { return false }
        return Int(info.st_blocks) * 512 <= (dirtyPageCount(index) + 16) * MemoryPage.size
    }

    /// Writes process `index`'s diff to `path`: its dirty runs with the
    /// overlay file's pattern (written at their offsets), holes elsewhere.
    func write(_ index: Int, to path: FilePath) throws(Errno) {
        try BenchDataFiles.overlayPattern.writeSparse(to: path, pages: pages, data: dirtyRuns(index), seed: BenchDataFiles.seed)
    }
}
