// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The files of the restore measurements: the bench's base and overlay
/// files (the template's base and diff) and one diff file per process for
/// the own-diffs case (`bench-diff-<i>.bin`, the overlay file's pattern:
/// different files, the same pages, so one checksum serves all).
///
/// Each process of the own-diffs case gets a directory of its own
/// (`restore-<i>/`) holding hard links to the shared base and to its diff
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

    func diff(_ index: Int) -> FilePath { data.directory.appending("bench-diff-\(index).bin") }

    /// The directory of own-diffs process `index`.
    func directory(_ index: Int) -> FilePath { data.directory.appending("restore-\(index)") }

    /// The files restore `index` of `kind` composes, as the methods' setups take them.
    func files(_ kind: BenchRestoreKind, index: Int) -> BenchDataFiles {
        switch kind {
        case .template: data
        case .ownDiffs: BenchDataFiles(directory: directory(index), pages: pages)
        }
    }

    /// Writes the diff files that are missing or wrong.
    ///
    /// - Throws: the `Errno` of writing a file.
    func prepare(log: (String) -> Void) throws(Errno) {
        for index in 0..<diffs where !BenchDataFiles.isValid(diff(index), pattern: BenchDataFiles.overlayPattern, pages: pages) {
            log("writing \(diff(index)) (\(pages) pages)")
            try BenchDataFiles.overlayPattern.write(to: diff(index), pages: pages, seed: BenchDataFiles.seed)
        }
    }

    /// Makes each own-diffs directory's hard links (anew).
    ///
    /// - Throws: the `Errno` of creating a directory or a link.
    func link() throws(Errno) {
        for index in 0..<diffs {
            let directory = directory(index)
            if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
            let links = files(.ownDiffs, index: index)
            for (target, name) in [(data.base, links.base), (diff(index), links.overlay)] {
                unlink(name.string)
                if Glibc.link(target.string, name.string) != 0 { throw Errno(rawValue: errno) }
            }
        }
    }

    /// Reads the files `processes` restores of `kind` use (the first
    /// `pages` pages of each), so that they start cached.
    ///
    /// - Throws: the `Errno` of reading.
    func warm(_ kind: BenchRestoreKind, processes: Int) throws(Errno) {
        var paths = [data.base, data.overlay]
        if kind == .ownDiffs { paths = [data.base] + (0..<processes).map(diff) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: MemoryPage.size)
        defer { buffer.deallocate() }
        for path in paths {
            try Errno.rethrowing {
                let descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
                try descriptor.closeAfter {
                    var offset = 0
                    while offset < pages * MemoryPage.size {
                        let count = try descriptor.read(fromAbsoluteOffset: Int64(offset), into: buffer)
                        if count == 0 { break }
                        offset += count
                    }
                }
            }
        }
    }
}
