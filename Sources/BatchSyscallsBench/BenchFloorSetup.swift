// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The floor: one private mapping of the base file (open, mmap, close).
enum BenchFloorSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let base = try mapBase(input)
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [base])
    }

    /// The private mapping of the base file every file-backed method starts from.
    static func mapBase(_ input: BenchInput) throws(BenchError) -> MappedFile {
        try BenchOpen.map(input.files.base, protection: input.protection, pages: input.layout.pages)
    }
}
