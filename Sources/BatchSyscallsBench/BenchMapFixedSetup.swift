// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// What a user does without the module: map the base file, then map each
/// segment of the overlay file over it with `MAP_FIXED` (one VMA per
/// segment, and one more per gap between segments).
enum BenchMapFixedSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let base = try BenchFloorSetup.mapBase(input)
        let descriptor = open(input.files.overlay.string, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .call("open \(input.files.overlay)", .current) }
        defer { close(descriptor) }
        let pageSize = MemoryPage.size
        let protection = input.writable ? PROT_READ | PROT_WRITE : PROT_READ
        for (index, segment) in input.layout.segments.enumerated() {
            let address = base.address + segment.lowerBound * pageSize
            let result = mmap(address, segment.count * pageSize, protection, MAP_PRIVATE | MAP_FIXED, descriptor,
                              off_t(segment.lowerBound * pageSize))
            guard let result, result != MAP_FAILED else {
                let error = Errno.current
                let limit = BenchSystem.maxMapCount.map { " (vm.max_map_count = \($0))" } ?? ""
                throw .call("mmap(MAP_FIXED) of segment \(index + 1) of \(input.layout.segmentCount)\(limit)", error)
            }
        }
        // Unmapping the base range unmaps the segments too.
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [base])
    }
}
