// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// The simplest composition: anonymous memory holding the base file, read
/// whole, with each overlay segment read over it. Everything is copied
/// before the first touch.
enum BenchMergeSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let memory = try BenchAnonymousMemory(pages: input.layout.pages)
        try BenchFileReads.read(input.files.base, runs: CollectionOfOne(0...(input.layout.pages - 1)), into: memory.address)
        try BenchFileReads.read(input.files.overlay, runs: input.runs, into: memory.address)
        return BenchRegion(address: memory.address, pages: input.layout.pages, owners: [memory])
    }
}

/// Copies of file pages into memory with pread.
enum BenchFileReads {
    /// preads each run of pages of `path` to the same place in `memory`
    /// (page `p` of the file to byte `p * page size`). A file that ends
    /// early leaves zeros, as a mapping past its end would not: the data
    /// files have the mapping's size (the checksum notices).
    static func read(_ path: FilePath, runs: some Sequence<ClosedRange<Int>>,
                     into memory: UnsafeMutableRawPointer) throws(BenchError) {
        let pageSize = MemoryPage.size
        let descriptor = open(path.string, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .call("open \(path)", .current) }
        defer { close(descriptor) }
        for run in runs {
            let start = run.lowerBound * pageSize
            let length = run.count * pageSize
            var done = 0
            while done < length {
                let count = pread(descriptor, memory + start + done, length - done, off_t(start + done))
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw .call("pread of \(path)", .current) }
                if count == 0 { break }
                done += count
            }
        }
    }
}
