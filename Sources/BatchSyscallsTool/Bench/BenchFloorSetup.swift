// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The floor: one private mapping of the base file (open, mmap, close).
enum BenchFloorSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let base: MappedFile
        do {
            base = try MappedFile(path: input.files.base, protection: input.protection, pages: input.layout.pages)
        } catch {
            throw .call("mmap of \(input.files.base)", error)
        }
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [base])
    }
}
