// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The time-to-ready case's files in the bench's data directory: the base,
/// the diffs, the merged file (the chain flattened: the floor maps it, the
/// userfaultfd method copies from it) and the recorded loading set. Names
/// carry the page count, so runs of different sizes keep their own.
struct BenchReadyFiles: Sendable {
    let directory: FilePath
    let layout: BenchReadyLayout

    var base: FilePath { directory.appending("ready-base-\(layout.pages).bin") }
    func diff(_ k: Int) -> FilePath { directory.appending("ready-diff-\(k)-of-\(layout.diffs)-\(layout.pages).bin") }
    var merged: FilePath { directory.appending("ready-merged-\(layout.pages).bin") }
    /// Written by each run (recording needs the module, which the host
    /// that writes the other files may not have).
    var loadingSet: FilePath { directory.appending("ready-loading-set-\(layout.pages).bin") }

    /// Writes the data files that are missing or look wrong (size, the
    /// first and last page's origin, a diff's blocks).
    func prepare(log: (String) -> Void) throws(Errno) {
        if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
        let pages = layout.pages
        let serving = layout.servingLayers
        func stream(ofLayer layer: UInt8) -> UInt32 { UInt32(70 + Int(layer)) }
        if !BenchDataFiles.isValid(base, pattern: BenchReadyLayout.basePattern, pages: pages) {
            log("writing \(base) (\(pages) pages)")
            try BenchReadyLayout.basePattern.writeSparse(to: base, pages: pages, data: [0...(pages - 1)],
                                                         seed: BenchDataFiles.seed)
        }
        for k in 1...layout.diffs {
            let runs = layout.dirtyRuns(ofDiff: k)
            let dirty = runs.reduce(0) { $0 + $1.count }
            guard !Self.isValidSparse(diff(k), pages: pages, dataPages: dirty) else { continue }
            log("writing \(diff(k)) (\(dirty) dirty pages in \(runs.count) runs)")
            try BenchReadyLayout.diffPattern(k).writeSparse(to: diff(k), pages: pages, data: runs,
                                                            seed: BenchDataFiles.seed)
        }
        let ends = (stream(ofLayer: serving[0]), stream(ofLayer: serving[pages - 1]))
        if !BenchDataFiles.isValid(merged, pages: pages, streams: ends) {
            log("writing \(merged) (\(pages) pages, the chain flattened)")
            try writeMerged(serving: serving)
        }
    }

    /// The merged file: each page as the layer serving it holds it.
    private func writeMerged(serving: [UInt8]) throws(Errno) {
        let pageSize = MemoryPage.size
        let chunkPages = 256
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        let patterns = [BenchReadyLayout.basePattern] + (1...layout.diffs).map(BenchReadyLayout.diffPattern)
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(merged, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter {
                var first = 0
                while first < layout.pages {
                    let count = min(chunkPages, layout.pages - first)
                    for index in 0..<count {
                        let page = first + index
                        let slice = UnsafeMutableRawBufferPointer(
                            rebasing: buffer[(index * pageSize)..<((index + 1) * pageSize)])
                        patterns[Int(serving[page])].fill(slice, page: page, seed: BenchDataFiles.seed)
                    }
                    _ = try descriptor.writeAll(toAbsoluteOffset: Int64(first * pageSize),
                                                UnsafeRawBufferPointer(rebasing: buffer[0..<(count * pageSize)]))
                    first += count
                }
                guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
            }
        }
    }

    /// Whether the sparse file at `path` has `pages` pages and no more
    /// blocks than its data pages (a copy that filled the holes is written
    /// anew).
    private static func isValidSparse(_ path: FilePath, pages: Int, dataPages: Int) -> Bool {
        var info = stat()
        guard stat(path.string, &info) == 0, Int(info.st_size) == pages * MemoryPage.size else { return false }
        return Int(info.st_blocks) * 512 <= (dataPages + 16) * MemoryPage.size
            && Int(info.st_blocks) * 512 >= dataPages * MemoryPage.size
    }
}
