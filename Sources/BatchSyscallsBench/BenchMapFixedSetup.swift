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
        let count = input.runs.count
        try map(descriptor, runs: input.runs, over: base.address, writable: input.writable) { index in
            let limit = BenchSystem.maxMapCount.map { " (vm.max_map_count = \($0))" } ?? ""
            return "mmap(MAP_FIXED) of segment \(index + 1) of \(count)\(limit)"
        }
        // Unmapping the base range unmaps the segments too.
        return BenchRegion(address: base.address, pages: input.layout.pages, owners: [base])
    }

    /// A snapshot chain by hand: a writable private mapping of the file at
    /// `base` (`pages` pages), then each extent of each diff (`diffs[i]`
    /// holding `segments[i]`) mapped over it, lowest diff first.
    static func chain(base: FilePath, pages: Int, diffs: [FilePath],
                      segments: [SegmentList]) throws(BenchError) -> BenchRegion {
        let mapping = try BenchOpen.map(base, protection: [.read, .write], pages: pages)
        for (index, diff) in diffs.enumerated() {
            let descriptor = try BenchOpen.readOnly(diff)
            defer { try? descriptor.close() }
            try map(descriptor.rawValue, runs: segments[index], over: mapping.address, writable: true) {
                "mmap(MAP_FIXED) of extent \($0 + 1) of diff \(index + 1)"
            }
        }
        // Unmapping the base range unmaps the extents too.
        return BenchRegion(address: mapping.address, pages: pages, owners: [mapping])
    }

    /// Maps each run of pages of the file open as `descriptor` over the
    /// same pages of the mapping at `address`, one `mmap(MAP_FIXED |
    /// MAP_PRIVATE)` each; `describe(index)` names a run whose mmap fails.
    static func map(_ descriptor: CInt, runs: some Sequence<ClosedRange<Int>>, over address: UnsafeMutableRawPointer,
                    writable: Bool, describe: (Int) -> String) throws(BenchError) {
        let pageSize = MemoryPage.size
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        for (index, run) in runs.enumerated() {
            let result = mmap(address + run.lowerBound * pageSize, run.count * pageSize, protection,
                              MAP_PRIVATE | MAP_FIXED, descriptor, off_t(run.lowerBound * pageSize))
            guard let result, result != MAP_FAILED else { throw .call(describe(index), .current) }
        }
    }
}
