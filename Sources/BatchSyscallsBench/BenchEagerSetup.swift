// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// Copying only the diff: a private mapping of the base file, writable,
/// with each run of overlay pages read into it with pread before the first
/// touch (each run's pages become private copies; the base's stay shared
/// in its page cache).
enum BenchEagerSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let base: MappedFile
        do {
            // Writable whatever the run: pread writes into the mapping.
            base = try MappedFile(path: input.files.base, protection: [.read, .write], pages: input.layout.pages)
        } catch {
            throw .call("mmap of \(input.files.base)", error)
        }
        try BenchFileReads.read(input.files.overlay, runs: input.runs, into: base.address)
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [base])
    }
}
