// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// A restore as the guest-memory scenarios use it: a private read-write
/// mapping of base.bin with layers laid over it that holds every kind of
/// page a VMM's guest memory holds:
/// - own pages (an own layer's: private anonymous copies once touched),
/// - shared pages (served from a page cache every restore of the same
///   lower stack maps: base.bin's own, or a lower inode of the module's),
/// - privately written pages (anonymous, of either kind before the write).
/// The plan is made before any fork, so that every process of a scenario
/// knows the pages and the view.
struct OverlayMix {
    enum Kind: String, CaseIterable {
        /// The seed's v1 request: segments of overlay.bin over base.bin.
        case seed
        /// A fleet restore: base.bin plus an own sparse diff (v2).
        case fleet
        /// A chain: base.bin and a shared layer beneath an own diff (v2);
        /// the shared pages come from a lower inode's page cache.
        case chain
    }

    let kind: Kind
    let data: TestData
    /// The layer files of the v2 kinds (the shared one first).
    let layers: [SparseLayer]
    /// The layer files as written (read whole right after).
    let layerSnapshots: [FileImage]
    /// Pages an own layer serves.
    let ownPages: [Int]
    /// Pages served from a shared page cache.
    let sharedPages: [Int]
    /// Pages the restoring process writes (some own, some shared).
    let writtenPages: [Int]
    /// The view before and after the private writes.
    let layerView: ExpectedView
    let view: ExpectedView

    var label: String { kind.rawValue }

    /// `stream` keeps the layer files of different scenarios apart.
    static func make(_ kind: Kind, data: TestData, stream: UInt32) throws -> OverlayMix {
        let pages = data.base.pageCount
        var layers: [SparseLayer] = []
        var layerView = ExpectedView(base: data.base)
        var own: [Int]
        switch kind {
        case .seed:
            layerView.overlay(data.overlay, seedSegments)
            own = PageSet(seedSegments).pages
        case .fleet, .chain:
            if kind == .chain {
                let shared = try SparseLayer.write(name: "mix-shared-\(stream)", pages: pages, data: [0...99, 300...399],
                                                   stream: stream + 1)
                layers.append(shared)
                layerView.overlay(shared.image, shared.data)
            }
            let diff = try FleetScenarios.ownDiff("mix-own-\(stream)", pages: pages, runs: 24, stream: stream)
            layers.append(diff)
            layerView.overlay(diff.image, diff.data)
            own = diff.dataPages.pages
        }
        own = own.filter { $0 < pages }
        let ownSet = Set(own)
        let shared = (0..<pages).filter { !ownSet.contains($0) }
        let written = [own[1], own[own.count / 2], shared[5], shared[shared.count / 2], shared[shared.count - 1]]
        var view = layerView
        for page in written { view.write(page: page, bytes: stamp(page: page, tag: 0xC3), what: "private write to page \(page)") }
        let snapshots = try layers.map { try FileImage.load(fd: $0.fd, name: $0.name) }
        return OverlayMix(kind: kind, data: data, layers: layers, layerSnapshots: snapshots, ownPages: own, sharedPages: shared, writtenPages: written,
                          layerView: layerView, view: view)
    }

    func close() { layers.forEach { $0.close() } }

    /// A page's bytes for a private write: `tag` everywhere but the page
    /// number in the first eight bytes (no zeros: KSM treats zero pages
    /// apart).
    static func stamp(page: Int, tag: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: tag, count: pageSize)
        withUnsafeBytes(of: UInt64(page).littleEndian) { for (index, byte) in $0.enumerated() { bytes[index] = byte } }
        return bytes
    }

    /// Own and shared pages nobody writes, `count` of each, from the
    /// middle of each list (not the pages the writes use).
    func untouched(_ count: Int) -> (own: [Int], shared: [Int]) {
        let writtenSet = Set(writtenPages)
        func pick(_ pages: [Int]) -> [Int] {
            Array(pages.filter { !writtenSet.contains($0) }.dropFirst(pages.count / 3).prefix(count))
        }
        return (pick(ownPages), pick(sharedPages))
    }

    /// A restore: the request laid over `base` (a private mapping of
    /// base.bin), and what it keeps mapped.
    struct Restore {
        let id: OverlayID
        let base: MappedFile
        let overlay: MappedFile?

        func unmap() {
            base.unmap()
            overlay?.unmap()
        }
    }

    /// Maps base.bin privately (with `protection`) and makes the request
    /// over it; the private writes are not made (`writePrivately`).
    func restore(_ device: OverlayDevice, protection: Int32 = PROT_READ | PROT_WRITE, label: String) throws -> Restore {
        let base = try MappedFile.map(DataFile.base.name, name: "\(label): base.bin", protection: protection)
        return try restore(device, on: base, label: label)
    }

    /// The request over `base`, a private mapping of base.bin.
    func restore(_ device: OverlayDevice, on base: MappedFile, label: String) throws -> Restore {
        switch kind {
        case .seed:
            let overlay = try MappedFile.map(DataFile.overlay.name, name: "\(label): overlay.bin")
            let id = try device.overlay(RawCreateRequest(base: base.address, overlay: overlay.address, segments: seedSegments),
                                        "\(label): seed request")
            return Restore(id: id, base: base, overlay: overlay)
        case .fleet, .chain:
            let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: layers.map { $0.raw() }),
                                      "\(label): \(kind) request")
            return Restore(id: id, base: base, overlay: nil)
        }
    }

    /// Makes the private writes in `mapping` (a restore of this plan).
    func writePrivately(_ mapping: MappedFile) throws {
        for page in writtenPages {
            try require(mapping.write(filePage: page, bytes: OverlayMix.stamp(page: page, tag: 0xC3)) == 0,
                        "\(label): private write to page \(page) faulted")
        }
    }

    /// Every layer file and base.bin still hold what they held: nothing a
    /// process did to its guest memory reached a file.
    func expectFilesUnchanged(_ context: String) throws {
        try data.expectFilesUnchanged(context)
        for (layer, before) in zip(layers, layerSnapshots) {
            let now = try FileImage.load(fd: layer.fd, name: layer.name)
            expect(now.sameContents(as: before),
                   "\(context): \(layer.name) changed on disk (first differing page \(now.firstDifferingPage(from: before).map(String.init) ?? "none"))")
        }
    }
}
