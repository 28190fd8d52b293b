// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// Ways to get the time-to-ready case's view ready: each timed from its
/// first call until every working-set page has been read.
enum BenchReadyMethod: String, CaseIterable, Sendable {
    /// A plain `MAP_PRIVATE` mapping of the merged file: what a restore of
    /// an already flattened snapshot costs, the floor.
    case floor
    /// The floor and `MADV_WILLNEED` of each loading-set range right after
    /// mapping: the kernel's own read-ahead on request.
    case floorWillNeed = "floor+willneed"
    /// The base mapped, each diff extent `mmap(MAP_FIXED)` over it.
    case mapFixed = "map-fixed"
    /// Anonymous memory registered with userfaultfd: a handler thread
    /// serves faults from the merged file and, meanwhile, copies the
    /// loading set's pages in, in page order (REAP's prefetch).
    case userfaultfd = "uffd-prefetch"
    /// One chain request (segment lists) over the base mapping.
    case overlay
    /// The same request with the recorded loading set.
    case overlayLoadingSet = "overlay+loading-set"
    /// The same request with the loading set and populate.
    case overlayPopulate = "overlay+loading-set+populate"

    /// Whether the method needs the module.
    var needsDevice: Bool { self == .overlay || self == .overlayLoadingSet || self == .overlayPopulate }
}

/// What every method gets before its timing starts: the files, each diff's
/// extents and the loading set (as a restore would have them from the
/// snapshot's metadata).
struct BenchReadyInput {
    let files: BenchReadyFiles
    /// Each diff's extents as a request's segment list.
    let segments: [SegmentList]
    /// The recorded loading set (empty: none recorded).
    let loadingSet: LoadingSet

    init(files: BenchReadyFiles, loadingSet: LoadingSet) throws(BenchError) {
        self.files = files
        self.loadingSet = loadingSet
        segments = try BenchOpen.segmentLists(diffs: files.layout.diffs, runs: files.layout.dirtyRuns(ofDiff:))
    }

    var pages: Int { files.layout.pages }

    func setUp(_ method: BenchReadyMethod) throws(BenchError) -> BenchRegion {
        switch method {
        case .floor, .floorWillNeed: try floor(willNeed: method == .floorWillNeed)
        case .mapFixed: try mapFixed()
        case .userfaultfd: try userfaultfd()
        case .overlay: try overlay(loadingSet: nil, populate: false)
        case .overlayLoadingSet: try overlay(loadingSet: loadingSet, populate: false)
        case .overlayPopulate: try overlay(loadingSet: loadingSet, populate: true)
        }
    }

    private func map(_ path: FilePath, protection: MappedFile.Protection) throws(BenchError) -> MappedFile {
        try BenchOpen.map(path, protection: protection, pages: pages)
    }

    private func openDiff(_ k: Int) throws(BenchError) -> FileDescriptor {
        try BenchOpen.readOnly(files.diff(k))
    }

    private func floor(willNeed: Bool) throws(BenchError) -> BenchRegion {
        let merged = try map(files.merged, protection: [.read, .write])
        if willNeed {
            let pageSize = MemoryPage.size
            for range in loadingSet.ranges where range.lowerBound < pages {
                let count = min(range.upperBound, pages - 1) - range.lowerBound + 1
                guard madvise(merged.address + range.lowerBound * pageSize, count * pageSize, MADV_WILLNEED) == 0 else {
                    throw .call("madvise(MADV_WILLNEED) of pages \(range)", .current)
                }
            }
        }
        return BenchRegion(address: merged.address, pages: pages, owners: [merged])
    }

    private func mapFixed() throws(BenchError) -> BenchRegion {
        try BenchMapFixedSetup.chain(base: files.base, pages: pages, diffs: (1...files.layout.diffs).map(files.diff),
                                     segments: segments)
    }

    private func userfaultfd() throws(BenchError) -> BenchRegion {
        let merged = try map(files.merged, protection: .read)
        let memory = try BenchAnonymousMemory(pages: pages)
        let userfaultfd = try BenchUserfaultfdSetup.register(memory)
        let source = UnsafeRawPointer(merged.address)
        let pageSize = MemoryPage.size
        let handler = BenchUserfaultHandler(userfaultfd: userfaultfd, region: memory.address, pages: pages,
                                            prefetch: loadingSet.ranges) { source + $0 * pageSize }
        try handler.start()
        // The handler stops before the memory and the source go.
        return BenchRegion(address: memory.address, pages: pages, owners: [handler, memory, merged],
                           onRelease: { handler.stop() })
    }

    private func overlay(loadingSet: LoadingSet?, populate: Bool) throws(BenchError) -> BenchRegion {
        let device = try BenchOpen.device()
        let base = try map(files.base, protection: [.read, .write])
        var descriptors: [FileDescriptor] = []
        defer { descriptors.forEach { try? $0.close() } }
        for k in 1...files.layout.diffs { descriptors.append(try openDiff(k)) }
        let layers = descriptors.enumerated().map { index, file in Layer(file: file, segments: segments[index]) }
        do {
            let overlay = try device.stack(base: base, layers: layers, loadingSet: loadingSet, populate: populate)
            return BenchRegion(address: base.address, pages: pages, owners: [base], overlay: overlay)
        } catch {
            throw .call("chain request with \(layers.count) layers", error)
        }
    }
}
