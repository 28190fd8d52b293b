// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// Ways to restore the bench's snapshot chain (a base and sparse diffs)
/// into a private view, each timed from nothing to a view whose every page
/// is right.
enum BenchChainMethod: String, CaseIterable, Sendable {
    /// One v2 request, every diff by `MEM_OVERLAY_LAYER_DATA_EXTENTS`: the
    /// module finds the extents (open the diffs, map the base, one ioctl).
    case stack = "v2 data extents"
    /// One v2 request with each diff's segment list (known beforehand).
    case stackSegments = "v2 segment lists"
    /// One v1 create request per diff, each after the previous one's
    /// cleanup, each diff mapped to name it (the segment lists known).
    case stackedV1 = "v1 x diffs"
    /// The base mapped, then one `mmap(MAP_FIXED)` per extent of each diff,
    /// lowest diff first.
    case mapFixed = "map-fixed"
    /// Anonymous memory: the base read whole, then every extent of each
    /// diff read over it.
    case merge

    /// Whether the method needs the module.
    var needsDevice: Bool { self == .stack || self == .stackSegments || self == .stackedV1 }
}

/// What every method gets before its setup is timed: the files and each
/// diff's extents (as the snapshot's format would give them; only
/// ``BenchChainMethod/stack`` leaves finding them to the module, inside its
/// timed request).
struct BenchChainInput {
    let files: BenchChainFiles
    /// Each diff's extents as a request's segment list.
    let segments: [SegmentList]

    init(files: BenchChainFiles) throws(BenchError) {
        self.files = files
        segments = try BenchOpen.segmentLists(diffs: files.layout.diffs) { k in
            files.layout.dirtyPages(ofDiff: k).map { $0...$0 }
        }
    }

    var pages: Int { files.layout.pages }

    func setUp(_ method: BenchChainMethod) throws(BenchError) -> BenchRegion {
        switch method {
        case .stack, .stackSegments: try stack(byExtents: method == .stack)
        case .stackedV1: try stackedV1()
        case .mapFixed: try mapFixed()
        case .merge: try merge()
        }
    }

    private func mapBase() throws(BenchError) -> MappedFile {
        try BenchOpen.map(files.base, protection: [.read, .write], pages: pages)
    }

    private func openDiff(_ k: Int) throws(BenchError) -> FileDescriptor {
        try BenchOpen.readOnly(files.diff(k))
    }

    private func stack(byExtents: Bool) throws(BenchError) -> BenchRegion {
        let device = try BenchOpen.device()
        let base = try mapBase()
        var descriptors: [FileDescriptor] = []
        defer { descriptors.forEach { try? $0.close() } }
        for k in 1...files.layout.diffs { descriptors.append(try openDiff(k)) }
        let layers = descriptors.enumerated().map { index, file in
            byExtents ? Layer.dataExtents(of: file) : Layer(file: file, segments: segments[index])
        }
        do {
            let overlay = try device.stack(base: base, layers: layers)
            return BenchRegion(address: base.address, pages: pages, owners: [], overlay: overlay)
        } catch {
            throw .call("v2 request with \(layers.count) layers", error)
        }
    }

    private func stackedV1() throws(BenchError) -> BenchRegion {
        let device = try BenchOpen.device()
        let base = try mapBase()
        var last: Overlay?
        for k in 1...files.layout.diffs {
            let layer: MappedFile
            do {
                // Any mapping of the diff names it.
                layer = try MappedFile(path: files.diff(k), protection: .read, pages: 1)
            } catch {
                throw .call("mmap of \(files.diff(k))", error)
            }
            do {
                // Cleaned up first, so that the next request stacks on it.
                if let previous = last.take() { try previous.remove() }
                last = try device.overlay(base: base, layer: layer, segments: segments[k - 1])
            } catch {
                throw .call("v1 request \(k) of \(files.layout.diffs)", error)
            }
        }
        return BenchRegion(address: base.address, pages: pages, owners: [], overlay: last)
    }

    private func mapFixed() throws(BenchError) -> BenchRegion {
        try BenchMapFixedSetup.chain(base: files.base, pages: pages, diffs: (1...files.layout.diffs).map(files.diff),
                                     segments: segments)
    }

    private func merge() throws(BenchError) -> BenchRegion {
        let memory = try BenchAnonymousMemory(pages: pages)
        try BenchFileReads.read(files.base, runs: CollectionOfOne(0...(pages - 1)), into: memory.address)
        for k in 1...files.layout.diffs {
            try BenchFileReads.read(files.diff(k), runs: segments[k - 1], into: memory.address)
        }
        return BenchRegion(address: memory.address, pages: pages, owners: [memory])
    }
}
