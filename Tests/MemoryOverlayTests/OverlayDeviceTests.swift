// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage
import Testing

/// Whether the module's device can be opened here: on a host without the
/// module (or without root) these tests are reported as skipped, with the
/// reason; in the QEMU guest they run.
let deviceUsable: Bool = (try? OverlayDevice()) != nil

@Suite("OverlayDevice and Overlay against the loaded module",
       .enabled(if: deviceUsable, "needs /dev/batch_syscalls (batch-syscalls.ko loaded) and permission to open it (root)"),
       .serialized)
struct OverlayDeviceTests {
    let directory: TestDirectory
    let device: OverlayDevice

    init() throws {
        directory = TestDirectory.shared
        device = try OverlayDevice()
    }

    private func verifier(_ segments: SegmentList, layer: DataFile = .overlay) -> OverlayVerifier {
        OverlayVerifier(basePath: directory[.base], overlayPath: directory[layer], segments: segments)
    }

    private func freshBase() throws -> MappedFile {
        try MappedFile(path: directory[.base], protection: [.read, .write])
    }

    @Test func overlaidPagesShowTheLayerAndTheRestTheBase() throws {
        let segments = SeedSegments.example  // within TestDirectory.pages
        let overlay = try device.overlay(base: freshBase(), layer: MappedFile(path: directory[.overlay]),
                                         segments: segments)
        let report = try verifier(segments).verify(overlay.base)
        #expect(report.passed, "\(report.mismatches)")
        #expect(report.overlayPages == 1 + 3 + 1 + 1 + 41 + 61)
    }

    @Test func coldCachesShowTheSameData() throws {
        try #require(PageCache.canDrop, "\(PageCache.cannotDropReason)")
        try PageCache.drop()
        let segments = try SegmentList([1...2, 9...200])
        let overlay = try device.overlay(base: freshBase(), layer: MappedFile(path: directory[.overlay]),
                                         segments: segments)
        let report = try verifier(segments).verify(overlay.base)
        #expect(report.passed, "\(report.mismatches)")
    }

    /// remove() consumes the overlay, so a second remove does not compile:
    /// the id is released exactly once, and the overlay's own cleanup on
    /// release does not run after it.
    @Test func removeReleasesTheIDOnceAndTheMappingStillShowsTheOverlay() throws {
        let segments = try SegmentList([4...6])
        let overlay = try device.overlay(base: freshBase(), layer: MappedFile(path: directory[.overlay]),
                                         segments: segments)
        let (id, base) = (overlay.id, overlay.base)
        try overlay.remove()
        #expect(throws: Errno.noSuchFileOrDirectory) { try device.cleanup(id) }
        #expect(try verifier(segments).verify(base).passed)
    }

    @Test func releasingTheOverlayCleansItsIDUp() throws {
        let base = try freshBase()
        let id: OverlayID
        do {
            let overlay = try device.overlay(base: base, layer: MappedFile(path: directory[.overlay]),
                                             segments: SegmentList([0...3]))
            id = overlay.id
        }  // the overlay goes here
        #expect(throws: Errno.noSuchFileOrDirectory) { try device.cleanup(id) }
    }

    @Test func refusalsAreTypedAndChangeNothing() throws {
        let base = try freshBase()
        let layer = try MappedFile(path: directory[.overlay])
        let anonymous = try MappedFile(anonymousPages: 4)
        let segments = try SegmentList([4...6])
        #expect(throws: OverlayError.invalidRequest) {
            _ = try device.overlay(base: anonymous, layer: layer, segments: segments)
        }
        #expect(throws: Errno.invalidArgument) {
            try device.create(RawCreateRequest(baseAddress: base.address, overlayAddress: layer.address,
                                               segments: RawSegments(pairs: [(start: 9, end: 2)]))).get()
        }
        #expect(try verifier(segments).verify(base).mismatchCount == 3, "base still shows base.bin everywhere")

        let overlay = try device.overlay(base: base, layer: layer, segments: segments)
        #expect(throws: OverlayError.alreadyOverlaid) {
            _ = try device.overlay(base: base, layer: layer, segments: segments)
        }
        #expect(try verifier(segments).verify(overlay.base).passed)

        let written = try freshBase()
        written.bytes[0] = 1
        #expect(throws: OverlayError.mappingHoldsPrivateWrites) {
            _ = try device.overlay(base: written, layer: layer, segments: segments)
        }
    }

    @Test func theListingShowsTheOverlayUntilItIsRemoved() throws {
        let segments = SeedSegments.example
        let overlay = try device.overlay(base: freshBase(), layer: MappedFile(path: directory[.overlay]),
                                         segments: segments)
        _ = try verifier(segments).verify(overlay.base)  // every page read once
        let listed = try #require(LiveOverlay.all().first { $0.id == overlay.id })
        #expect(listed.processID == Int(getpid()))
        #expect(listed.segmentCount == segments.merged.count)
        #expect(listed.layerCount == 2 && listed.attachedRequests == 1 && listed.overlayNumber > 0)
        #expect(listed.pagesServed.reduce(0, +) >= TestDirectory.pages)
        #expect(listed.pagesServed[1] >= 108, "the overlay file served its 108 pages")
        let id = overlay.id
        try overlay.remove()
        #expect(try LiveOverlay.all().contains { $0.id == id } == false)
    }

    @Test func aRequestAfterRemoveStacksOnTheOverlay() throws {
        let base = try freshBase()
        let first = try device.overlay(base: base, layer: MappedFile(path: directory[.overlay]),
                                       segments: SegmentList([0...9]))
        try first.remove()
        let second = try device.overlay(base: base, layer: MappedFile(path: directory[.base2]),
                                        segments: SegmentList([5...14]))
        for page in 0..<20 {
            let file: DataFile = page >= 5 && page <= 14 ? .base2 : page < 5 ? .overlay : .base
            #expect(second.base.contents(ofFilePage: page) == (try directory.contents(of: file, page: page)),
                    "page \(page) shows \(file.name)")
        }
    }

    /// A chain of the overlay file (by segments) and base2.bin (its data
    /// extents: all of it, a plain file) under a third layer, the zebra
    /// file by segments: one request, one id.
    @Test func aChainIsOneRequestWithOneID() throws {
        let overlayFile = try FileDescriptor.open(directory[.overlay], .readOnly)
        let base2File = try FileDescriptor.open(directory[.base2], .readOnly)
        let zebraFile = try FileDescriptor.open(directory[.zebra], .readOnly)
        defer { [overlayFile, base2File, zebraFile].forEach { try? $0.close() } }
        let overlay = try device.stack(base: freshBase(), layers: [
            Layer(file: overlayFile, segments: SegmentList([0...9])),
            .dataExtents(of: base2File),
            Layer(file: zebraFile, segments: SegmentList([8...8, 100...101])),
        ])
        #expect(overlay.layer == nil)
        for page in 0..<TestDirectory.pages {
            let file: DataFile = page == 8 || page == 100 || page == 101 ? .zebra : .base2
            #expect(overlay.base.contents(ofFilePage: page) == (try directory.contents(of: file, page: page)),
                    "page \(page) shows \(file.name)")
        }
        let id = overlay.id
        try overlay.remove()
        #expect(throws: Errno.noSuchFileOrDirectory) { try device.cleanup(id) }
    }

    @Test func chainRefusalsAreTypedAndChangeNothing() throws {
        let base = try freshBase()
        let overlayFile = try FileDescriptor.open(directory[.overlay], .readOnly)
        defer { try? overlayFile.close() }
        let segments = try SegmentList([4...6])
        #expect(throws: OverlayError.invalidRequest) { _ = try device.stack(base: base, layers: []) }
        #expect(throws: OverlayError.badLayerDescriptor) {
            _ = try device.stack(base: base, layers: [Layer(file: overlayFile, segments: segments),
                                                      .dataExtents(of: FileDescriptor(rawValue: -1))])
        }
        #expect(throws: OverlayError.tooLarge) {
            _ = try device.stack(base: base, layers: [Layer](repeating: Layer(file: overlayFile, segments: segments),
                                                              count: Layer.maximumCount + 1))
        }
        #expect(try verifier(segments).verify(base).mismatchCount == 3, "base still shows base.bin everywhere")
        let overlay = try device.stack(base: base, layers: [Layer(file: overlayFile, segments: segments)])
        #expect(try verifier(segments).verify(overlay.base).passed)
        #expect(throws: OverlayError.alreadyOverlaid) {
            _ = try device.stack(base: base, layers: [.dataExtents(of: overlayFile)])
        }
    }

    /// With populate the loading set's pages are mapped when the request
    /// returns (fault-around may map cached neighbours too); without it
    /// they are read ahead, and the view is the chain's either way.
    @Test(arguments: [false, true])
    func aLoadingSetIsSentWithTheChain(populate: Bool) throws {
        let overlayFile = try FileDescriptor.open(directory[.overlay], .readOnly)
        defer { try? overlayFile.close() }
        let segments = try SegmentList([4...6, 100...120])
        let set = try LoadingSet([0...9, 110...130, 250...255])
        let overlay = try device.stack(base: freshBase(), layers: [Layer(file: overlayFile, segments: segments)],
                                       loadingSet: set, populate: populate)
        if populate {
            let mapped = try LoadingSet.recordResident(of: overlay.base)
            #expect(set.pages.allSatisfy(mapped.contains), "mapped \(mapped.ranges)")
        }
        #expect(try verifier(segments).verify(overlay.base).passed)
    }

    @Test func populateNeedsALoadingSet() throws {
        let base = try freshBase()
        let overlayFile = try FileDescriptor.open(directory[.overlay], .readOnly)
        defer { try? overlayFile.close() }
        let layers = [Layer(file: overlayFile, segments: try SegmentList([4...6]))]
        #expect(throws: OverlayError.invalidRequest) { _ = try device.stack(base: base, layers: layers, populate: true) }
        #expect(throws: OverlayError.invalidRequest) {
            _ = try device.stack(base: base, layers: layers, loadingSet: .empty, populate: true)
        }
        #expect(try LoadingSet.recordResident(of: base).isEmpty, "the refused requests mapped nothing")
        _ = try device.stack(base: base, layers: layers, loadingSet: .empty)
    }
}
