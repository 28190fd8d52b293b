// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The snapshot chain of the bench's chain case: a base file holding data
/// everywhere and `diffs` sparse diff files of the same size, each holding
/// exactly `extents` one-page data extents (dirty pages).
///
/// Pages come in triples; diff `k` (from 1) dirties, in triple `j`, page
/// `3j + (j + k) % 2` (page `3j + 2` stays a hole, so no two dirty pages
/// touch and every one is an extent of its own), except in the triples
/// where `j % diffs == k - 1`, so that every diff serves some pages in the
/// composed view, and consecutive diffs dirty complementary pages.
struct BenchChainLayout: Sendable, Equatable {
    let diffs: Int
    let extents: Int

    /// The triples diff `k` dirties, in order.
    func triples(ofDiff k: Int) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(extents)
        var triple = 0
        while result.count < extents {
            if triple % diffs != k - 1 { result.append(triple) }
            triple += 1
        }
        return result
    }

    /// The dirty pages of diff `k`, in order (each a one-page extent).
    func dirtyPages(ofDiff k: Int) -> [Int] {
        triples(ofDiff: k).map { 3 * $0 + ($0 + k) % 2 }
    }

    /// Pages of every file: all the triples any diff dirties.
    var pages: Int {
        let lastTriple = (1...diffs).map { triples(ofDiff: $0).last ?? 0 }.max() ?? 0
        return 3 * (lastTriple + 1)
    }

    /// The layer serving each page in the composed view (0: the base).
    var servingLayers: [Int] {
        var serving = [Int](repeating: 0, count: pages)
        for k in 1...diffs { for page in dirtyPages(ofDiff: k) { serving[page] = k } }
        return serving
    }

    /// The base's and diff `k`'s page patterns (their streams name them).
    static let basePattern = PagePattern.seeded(stream: 40)
    static func diffPattern(_ k: Int) -> PagePattern { .seeded(stream: UInt32(40 + k)) }

    /// What ``BenchTouch/read(_:pages:)`` sums over the composed view: each
    /// page's stream and page number's low half (see
    /// ``BenchDataFiles/expectedChecksum(layout:composed:)``).
    var expectedChecksum: UInt64 {
        var sum: UInt64 = 0
        for (page, layer) in servingLayers.enumerated() {
            sum &+= UInt64(40 + layer) | UInt64(UInt32(truncatingIfNeeded: page)) << 32
        }
        return sum
    }
}

/// The chain's files in the bench's data directory.
struct BenchChainFiles: Sendable {
    let directory: FilePath
    let layout: BenchChainLayout

    var base: FilePath { directory.appending("chain-base-\(layout.pages).bin") }
    func diff(_ k: Int) -> FilePath { directory.appending("chain-diff-\(k)-of-\(layout.diffs)-\(layout.extents).bin") }
    var all: [FilePath] { [base] + (1...layout.diffs).map(diff) }

    /// Writes the files that are missing or have the wrong size.
    func prepare(log: (String) -> Void) throws(Errno) {
        if mkdir(directory.string, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
        let pages = layout.pages
        func present(_ path: FilePath) -> Bool {
            var info = stat()
            return stat(path.string, &info) == 0 && Int(info.st_size) == pages * MemoryPage.size
        }
        if !present(base) {
            log("writing \(base) (\(pages) pages)")
            try BenchChainLayout.basePattern.writeSparse(to: base, pages: pages, data: [0...(pages - 1)],
                                                         seed: BenchDataFiles.seed)
        }
        for k in 1...layout.diffs where !present(diff(k)) {
            log("writing \(diff(k)) (\(layout.extents) one-page extents)")
            try BenchChainLayout.diffPattern(k).writeSparse(to: diff(k), pages: pages,
                                                            data: layout.dirtyPages(ofDiff: k).map { $0...$0 },
                                                            seed: BenchDataFiles.seed)
        }
    }

    /// Reads every file's data once (the cached runs start from there).
    func warmPageCache() throws(Errno) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: MemoryPage.size)
        defer { buffer.deallocate() }
        for path in all {
            let descriptor = open(path.string, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Errno(rawValue: errno) }
            defer { close(descriptor) }
            var offset: off_t = 0
            while true {
                let data = lseek(descriptor, offset, 3 /* SEEK_DATA */)
                if data < 0 { break }
                let count = pread(descriptor, buffer.baseAddress!, buffer.count, data)
                if count <= 0 { break }
                offset = data + off_t(count)
            }
        }
    }
}
