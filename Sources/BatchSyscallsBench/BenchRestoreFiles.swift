// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The files of the restore measurements: the bench's base and overlay
/// files (the template's base and diff) and one diff file per process for
/// the own-diffs case (`bench-diff-<i>.bin`, the overlay file's pattern:
/// different files, the same pages, so one checksum serves all), and one
/// sparse diff file per process and dirty share for the sparse case
/// (`bench-sparse-diff-<pages>-<percent>-<i>.bin`, the overlay file's
/// pattern in its dirty runs, holes elsewhere).
///
/// Each process of the own-diffs cases gets a directory of its own
/// (`restore-<i>/`, `restore-sparse-<percent>-<i>/`) holding hard links to the shared base and to its diff
/// under the names every method's setup opens (``BenchDataFiles``). A hard
/// link is the same file: the base stays one inode with one page cache. The
/// links are made where the bench runs (a copy onto a guest's disk would
/// turn them into separate files).
struct BenchRestoreFiles: Sendable {
    /// The bench's own files: the template's base and diff.
    let data: BenchDataFiles
    /// Pages of each restored view (and of each own diff file).
    let pages: Int
    /// Own diff files: one per process of the largest restore.
    let diffs: Int
    /// The sparse case's dirty shares, per cent (one set of diffs each).
    let dirtyPercents: [Int]
    /// The kinds measured (whose files are needed).
    let kinds: [BenchRestoreKind]

    func diff(_ index: Int) -> FilePath { data.directory.appending("bench-diff-\(index).bin") }

    /// The sparse diffs of `dirtyPercent` % dirty pages, each process
    /// reading `touchPercent` % of its view.
    func sparse(dirty dirtyPercent: Int, touch touchPercent: Int = 100) -> BenchSparseDiffs {
        BenchSparseDiffs(pages: pages, dirtyPercent: dirtyPercent, touchPercent: touchPercent)
    }

    /// The sparse diffs of `benchCase`'s cell of the fan-out matrix.
    func sparse(_ benchCase: BenchRestoreCase) -> BenchSparseDiffs {
        sparse(dirty: benchCase.dirtyPercent, touch: benchCase.touchPercent)
    }

    /// The sparse diff file of process `index` at `dirtyPercent` % dirty.
    func sparseDiff(_ index: Int, dirty dirtyPercent: Int) -> FilePath {
        data.directory.appending("bench-sparse-diff-\(pages)-\(dirtyPercent)-\(index).bin")
    }

    /// The diff file of process `index` of `kind` (the template's: the
    /// overlay file; the sparse case's: the one of `dirtyPercent`).
    func diff(_ kind: BenchRestoreKind, _ index: Int, dirty dirtyPercent: Int = 0) -> FilePath {
        switch kind {
        case .template: data.overlay
        case .ownDiffs: diff(index)
        case .sparseOwnDiffs: sparseDiff(index, dirty: dirtyPercent)
        }
    }

    /// The directory of own-diffs process `index` of `kind`.
    func directory(_ kind: BenchRestoreKind, _ index: Int, dirty dirtyPercent: Int = 0) -> FilePath {
        data.directory.appending(kind == .sparseOwnDiffs ? "restore-sparse-\(dirtyPercent)-\(index)" : "restore-\(index)")
    }

    /// The files restore `index` of `kind` composes, as the methods' setups take them.
    func files(_ kind: BenchRestoreKind, index: Int, dirty dirtyPercent: Int = 0) -> BenchDataFiles {
        switch kind {
        case .template: data
        case .ownDiffs, .sparseOwnDiffs: BenchDataFiles(directory: directory(kind, index, dirty: dirtyPercent), pages: pages)
        }
    }

    /// The input of restore `index` of `benchCase`.
    func input(_ benchCase: BenchRestoreCase, index: Int, layout: BenchLayout) throws(BenchError) -> BenchInput {
        let files = files(benchCase.kind, index: index, dirty: benchCase.dirtyPercent)
        if benchCase.kind == .sparseOwnDiffs {
            return BenchInput(files: files, pages: pages, sparseRuns: sparse(benchCase).dirtyRuns(index), writable: false)
        }
        return try BenchInput(files: files, layout: layout, method: benchCase.method, writable: false)
    }

    /// Writes the diff files that are missing or wrong.
    ///
    /// - Throws: the `Errno` of writing a file.
    func prepare(log: (String) -> Void) throws(Errno) {
        if kinds.contains(.ownDiffs) {
            for index in 0..<diffs where !BenchDataFiles.isValid(diff(index), pattern: BenchDataFiles.overlayPattern, pages: pages) {
                log("writing \(diff(index)) (\(pages) pages)")
                try BenchDataFiles.overlayPattern.write(to: diff(index), pages: pages, seed: BenchDataFiles.seed)
            }
        }
        if kinds.contains(.sparseOwnDiffs) {
            for percent in dirtyPercents {
                let sparse = sparse(dirty: percent)
                for index in 0..<diffs where !sparse.isValid(sparseDiff(index, dirty: percent), index: index) {
                    log("writing \(sparseDiff(index, dirty: percent)) (\(sparse.dirtyPageCount(index)) of \(pages) pages, sparse)")
                    try sparse.write(index, to: sparseDiff(index, dirty: percent))
                }
            }
        }
    }

    /// Makes each own-diffs directory's hard links (anew).
    ///
    /// - Throws: the `Errno` of creating a directory or a link.
    func link() throws(Errno) {
        for kind in kinds where kind != .template {
            for (index, percent) in (0..<diffs).flatMap({ index in
                (kind == .sparseOwnDiffs ? dirtyPercents : [0]).map { (index, $0) }
            }) {
                let directory = directory(kind, index, dirty: percent)
                if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
                let links = files(kind, index: index, dirty: percent)
                for (target, name) in [(data.base, links.base), (diff(kind, index, dirty: percent), links.overlay)] {
                    unlink(name.string)
                    if Glibc.link(target.string, name.string) != 0 { throw Errno(rawValue: errno) }
                }
            }
        }
    }

    /// Reads the files `processes` restores of `kind` use (the first
    /// `pages` pages of each; of a sparse diff, its dirty runs only), so
    /// that they start cached.
    ///
    /// - Throws: the `Errno` of reading.
    func warm(_ benchCase: BenchRestoreCase) throws(Errno) {
        let kind = benchCase.kind
        var reads: [(FilePath, [ClosedRange<Int>])] = [(data.base, [0...(pages - 1)])]
        let diffs = kind == .template ? [0] : Array(0..<benchCase.processes)
        for index in diffs {
            reads.append((diff(kind, index, dirty: benchCase.dirtyPercent),
                          kind == .sparseOwnDiffs ? sparse(benchCase).dirtyRuns(index) : [0...(pages - 1)]))
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: MemoryPage.size)
        defer { buffer.deallocate() }
        for (path, runs) in reads {
            try Errno.rethrowing {
                let descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
                try descriptor.closeAfter {
                    for run in runs {
                        var offset = run.lowerBound * MemoryPage.size
                        let end = (run.upperBound + 1) * MemoryPage.size
                        while offset < end {
                            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, end - offset)])
                            let count = try descriptor.read(fromAbsoluteOffset: Int64(offset), into: slice)
                            if count == 0 { break }
                            offset += count
                        }
                    }
                }
            }
        }
    }
}
