// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// ABI v2 (IOCTL_MEM_OVERLAY_STACK_CMD): every error, with nothing changed
/// after it; chains of 1, 2, 10 and 255 layers against the page model;
/// data extents of sparse files on ext4; v1 and v2 requests on one mapping;
/// chains across fork, exit and munmap. Layer files are written on the
/// test disk and caches are dropped before the pages are checked.
enum StackRequestScenarios {
    static var all: [Scenario] { [
        Scenario("stack v2: size below the first version EINVAL (0, 8, 47); the first version (48), a cut one (52), version 1 (56) and larger ones with a zero tail (80, 4096) accepted; E2BIG with a non-zero tail or above 4096; nothing changes",
                 sizeRule),
        Scenario("stack v2: EINVAL request flags, unknown layer flags, own and shared together, no layers; E2BIG 256 layers; nothing changes",
                 flagsAndLayerCount),
        Scenario("stack v2: EBADF closed, negative and O_PATH descriptors; EACCES write-only layer; EINVAL directory, pipe and /dev/null layers; nothing changes",
                 layerFiles),
        Scenario("stack v2: EINVAL base not a private file mapping, segment end < start, no segments; E2BIG too many segments; EFAULT unreadable request, layers or segments, unwritable id; nothing changes",
                 requestContents),
        Scenario("stack v2: EEXIST on an overlaid mapping, EBUSY on a written one; nothing changes", mappingState),
        Scenario("stack v2: all or nothing: a bad 10th layer (EBADF, EACCES, EINVAL, E2BIG, EFAULT) after 9 good ones lays none of them",
                 allOrNothing),
        Scenario("chains: 1, 2 and 10 layers (segment lists and data extents) in one request show the page model, caches dropped; one id, exact listing",
                 shortChains),
        Scenario("chains: 255 layers in one request show the page model page by page, caches dropped", longestChain),
        Scenario("data extents on ext4: an all-holes diff serves nothing, an all-data diff every page, partial-page data its page; SegmentList(dataExtentsOf:) agrees; file positions kept",
                 dataExtents),
        Scenario("data extents by the extent map: on ext4 preallocated blocks are holes though their zeros are cached, data written into them is data before writeback; on tmpfs (no map) by SEEK_DATA; SegmentList(dataExtentsOf:) agrees",
                 preallocatedDataExtents),
        Scenario("mixing v1 and v2 on one mapping: EEXIST both ways while registered; after cleanup each stacks on the other",
                 mixedRequests),
        Scenario("chains across processes: a forked child sees the chain; either side unmaps or exits first; munmap and exit release the id",
                 chainLifetimes),
    ] }

    // MARK: Support

    /// The seed fixture and a read-only descriptor of overlay.bin: a good
    /// one-layer v2 request is the seed's segments of overlay.bin.
    struct Fixture {
        let seed: SeedFixture
        let overlayFD: Int32

        init() throws {
            seed = try SeedFixture()
            overlayFD = open(DataFile.overlay.name, O_RDONLY | O_CLOEXEC)
            if overlayFD < 0 { throw SysError("open \(DataFile.overlay.name)") }
        }

        func close() {
            seed.unmap()
            Glibc.close(overlayFD)
        }

        var base: MappedFile { seed.base }
        var goodLayer: RawLayer { RawLayer(fileDescriptor: overlayFD, segments: RawSegments(ranges: seedSegments)) }
        var goodRequest: RawStackRequest { RawStackRequest(baseAddress: base.address, layers: [goodLayer]) }
    }

    /// The request must fail with `want` and write no id back.
    static func expectRejected(_ device: OverlayDevice, _ request: RawStackRequest, _ want: Int32, _ what: String) {
        let (error, id) = device.send(request, command: OverlayDevice.stackCommand)
        guard let error else {
            Log.fail("\(what): the request succeeded (id \(id)), expected \(Errno.describe(want))")
            try? device.cleanup(id)
            return
        }
        expectErrno(error.rawValue, want, what)
        expect(id == .zero, "\(what): the failed request wrote an id back (\(id))")
    }

    /// Ids this process has registered, as the module lists them.
    static func ownListedIDs() -> [OverlayID] {
        let text = SystemFiles.read(LiveOverlay.listingPath.string) ?? ""
        return text.split(separator: "\n").compactMap { LiveOverlay(listingLine: $0) }
            .filter { $0.processID == Int(getpid()) }.map(\.id)
    }

    /// After failed requests: the base mapping still shows base.bin, this
    /// process has no id registered, and a good v2 request on the mapping
    /// succeeds, shows the seed's view and cleans up.
    static func expectUnchangedAndUsable(_ device: OverlayDevice, _ fixture: Fixture, _ what: String) {
        verifyPages(fixture.base, fixture.seed.baseView, label: "\(what): base mapping after the failed requests")
        expect(ownListedIDs().isEmpty, "\(what): ids left registered: \(ownListedIDs())")
        switch device.stack(fixture.goodRequest) {
        case .success(let id):
            verifyPages(fixture.base, fixture.seed.seedView, label: "\(what): a good v2 request afterwards")
            expectErrno(try device.cleanup(id), 0, "\(what): cleanup of the good request")
        case .failure(let error):
            Log.fail("\(what): a good v2 request on the same mapping afterwards failed: \(error)")
        }
    }

    /// The pages each layer of `view` serves, base first, without the
    /// layers that serve none (the module drops those).
    static func expectedServed(_ view: ChainView) -> [Int] {
        let served = view.pagesServed
        return [served[0]] + served.dropFirst().filter { $0 > 0 }
    }

    /// Checks the listing of `id` after every page was read once from cold
    /// caches: one entry, the layers that serve pages, each one's count.
    /// (Readahead may fill pages past a mapping that covers part of the
    /// file: then only the layers are checked, not `served`.)
    static func expectListing(_ id: OverlayID, _ view: ChainView, _ what: String, servedToo: Bool = true) {
        guard let entry = LiveOverlay.entry(for: id) else {
            Log.fail("\(what): id \(id) is not listed")
            return
        }
        let want = expectedServed(view)
        expect(entry.layerCount == want.count, "\(what): \(entry.layerCount) layers listed, want \(want.count)")
        if servedToo { expect(entry.pagesServed == want, "\(what): served \(entry.pagesServed), want \(want)") }
    }

    // MARK: Errors

    static func sizeRule() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            for size: UInt32 in [0, 8, 47] {
                var request = fixture.goodRequest
                request.size = size
                expectRejected(device, request, EINVAL, "size \(size)")
            }
            var request = fixture.goodRequest
            request.size = UInt32(RawStackRequest.size + 8)
            request.trailingBytes = [0, 0, 0, 0, 0, 0, 0, 1]
            expectRejected(device, request, E2BIG, "size \(request.size) with a non-zero byte past the known struct")
            request.size = 4096
            request.trailingBytes = [UInt8](repeating: 0, count: 4096 - RawStackRequest.size)
            request.trailingBytes[request.trailingBytes.count - 1] = 0x80
            expectRejected(device, request, E2BIG, "size 4096 with its last byte non-zero")
            for size: UInt32 in [4097, 8192, UInt32.max] {
                request.size = size
                request.trailingBytes = []
                expectRejected(device, request, E2BIG, "size \(size) (above 4096), zero tail")
            }
            expectUnchangedAndUsable(device, fixture, "after bad sizes")

            // A larger struct whose unknown part is zero is this version's
            // request; the first version's (48 bytes, without pidfd and
            // reserved), one cut inside pidfd and the second version's (56,
            // without the loading set) read the missing fields as 0.
            for size: UInt32 in [48, 52, 56, UInt32(RawStackRequest.size + 8), 4096] {
                let fresh = try Fixture()
                defer { fresh.close() }
                var larger = fresh.goodRequest
                larger.size = size
                switch device.stack(larger) {
                case .success(let id):
                    try SystemFiles.dropCaches()
                    verifyPages(fresh.base, fresh.seed.seedView, label: "request of size \(size) with a zero tail")
                    expectErrno(try device.cleanup(id), 0, "cleanup of the request of size \(size)")
                case .failure(let error):
                    Log.fail("size \(size) with a zero tail: \(error), expected success")
                }
            }
        }
    }

    static func flagsAndLayerCount() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            // Flags no version defines (1 is MEM_OVERLAY_STACK_PIDFD, 2
            // MEM_OVERLAY_STACK_POPULATE).
            for flags: UInt32 in [4, 0x8000_0000] {
                var request = fixture.goodRequest
                request.flags = flags
                expectRejected(device, request, EINVAL, "request flags 0x\(hex(flags))")
            }
            // Flags no version defines, and own and shared at once.
            for flags: UInt32 in [8, RawLayer.dataExtentsFlag | 8, RawLayer.ownFlag | RawLayer.sharedFlag,
                                  RawLayer.dataExtentsFlag | RawLayer.ownFlag | RawLayer.sharedFlag, 0x8000_0000] {
                var layer = fixture.goodLayer
                layer.flags = flags
                expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: [layer]), EINVAL,
                               "layer flags 0x\(hex(flags))")
                expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: [fixture.goodLayer, layer]),
                               EINVAL, "second layer's flags 0x\(hex(flags))")
            }
            expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: []), EINVAL, "no layers")
            expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layersAt: nil, layersSize: 0), EINVAL,
                           "no layers, NULL pointer")
            let many = [RawLayer](repeating: RawLayer(fileDescriptor: fixture.overlayFD, segments: RawSegments(ranges: [0...0])),
                                  count: RawStackRequest.maximumLayers + 1)
            expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: many), E2BIG, "256 layers")
            expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: [fixture.goodLayer],
                                                   layersSize: 1 << 40), E2BIG, "layers_size 2^40")
            expectUnchangedAndUsable(device, fixture, "after bad flags and layer counts")
        }
    }

    static func layerFiles() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            func reject(_ fd: Int32, _ want: Int32, _ what: String) {
                for layer in [RawLayer(fileDescriptor: fd, segments: RawSegments(ranges: seedSegments)),
                              RawLayer.dataExtents(fileDescriptor: fd)] {
                    let how = layer.flags == 0 ? "segments" : "data extents"
                    expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: [layer]), want,
                                   "\(what) (\(how))")
                }
            }
            let closed = open(DataFile.zebra.name, O_RDONLY | O_CLOEXEC)
            try require(closed >= 0, "open \(DataFile.zebra.name): \(Errno.current)")
            close(closed)
            reject(closed, EBADF, "a closed descriptor")
            reject(-1, EBADF, "descriptor -1")
            reject(1 << 20, EBADF, "descriptor 2^20")
            let pathOnly = open(DataFile.zebra.name, 0o10000000 | O_CLOEXEC)  // O_PATH (Glibc defines it only with _GNU_SOURCE)
            try require(pathOnly >= 0, "open O_PATH: \(Errno.current)")
            defer { close(pathOnly) }
            reject(pathOnly, EBADF, "an O_PATH descriptor")
            let writeOnly = open(DataFile.zebra.name, O_WRONLY | O_CLOEXEC)
            try require(writeOnly >= 0, "open O_WRONLY: \(Errno.current)")
            reject(writeOnly, EACCES, "a write-only descriptor of a regular file")
            close(writeOnly)
            let directory = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            try require(directory >= 0, "open .: \(Errno.current)")
            defer { close(directory) }
            reject(directory, EINVAL, "a directory")
            var ends: [Int32] = [0, 0]
            try require(pipe(&ends) == 0, "pipe: \(Errno.current)")
            defer { close(ends[0]); close(ends[1]) }
            reject(ends[0], EINVAL, "a pipe")
            let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            try require(null >= 0, "open /dev/null: \(Errno.current)")
            defer { close(null) }
            reject(null, EINVAL, "/dev/null (a character device)")
            expectUnchangedAndUsable(device, fixture, "after bad layer files")
        }
    }

    static func requestContents() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            let layers = [fixture.goodLayer]
            // The base.
            let anonymous = try MappedFile.anonymous(pages: 16, fill: 0xAB)
            defer { anonymous.unmap() }
            let shared = try MappedFile.map(DataFile.base.name, name: "shared mapping of base.bin", flags: MAP_SHARED)
            defer { shared.unmap() }
            for (address, what) in [(UnsafeRawPointer(anonymous.innerAddress), "base in an anonymous mapping"),
                                    (UnsafeRawPointer(try MappedFile.unmappedAddress()), "base at an unmapped address"),
                                    (nil, "base NULL"),
                                    (UnsafeRawPointer(shared.innerAddress), "base in a MAP_SHARED mapping")] {
                expectRejected(device, RawStackRequest(baseAddress: address, layers: layers), EINVAL, what)
            }
            // The segments.
            func layer(_ segments: RawLayer) -> RawStackRequest {
                RawStackRequest(baseAddress: fixture.base.address, layers: [fixture.goodLayer, segments])
            }
            let fd = fixture.overlayFD
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segments: RawSegments(pairs: [(start: 0, end: 1), (start: 9, end: 2)]))),
                           EINVAL, "segment end < start")
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segments: RawSegments(ranges: []))), EINVAL, "no segments")
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: nil, segmentsSize: 0)), EINVAL,
                           "no segments, NULL pointer")
            let limit = UInt64(SegmentList.maximumCount)
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: nil, segmentsSize: limit + 1)), E2BIG,
                           "MEM_OVERLAY_MAX_SEGMENTS + 1 segments")
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: nil, segmentsSize: 1 << 40)), E2BIG,
                           "2^40 segments")
            // Unreadable memory.
            let guarded = try ErrnoScenarios.guardedPages()
            defer { guarded.unmap() }
            let straddlingSegments = guarded.address + pageSize - 4 * RawSegments.stride
            RawSegments.store((0..<4).map { (start: UInt($0 * 2), end: UInt($0 * 2)) }, at: straddlingSegments)
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: nil, segmentsSize: 1)), EFAULT, "segments NULL")
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: guarded.address + pageSize, segmentsSize: 1)),
                           EFAULT, "segments in a PROT_NONE page")
            expectRejected(device, layer(RawLayer(fileDescriptor: fd, segmentsAt: straddlingSegments, segmentsSize: 8)),
                           EFAULT, "segments running into a PROT_NONE page")
            let base = fixture.base.address
            expectRejected(device, RawStackRequest(baseAddress: base, layersAt: nil, layersSize: 1), EFAULT, "layers NULL")
            expectRejected(device, RawStackRequest(baseAddress: base, layersAt: try MappedFile.unmappedAddress(), layersSize: 1),
                           EFAULT, "layers at an unmapped address")
            // One good layer (its segments readable) at the end of a page of
            // its own, a PROT_NONE page after it.
            let guardedLayers = try ErrnoScenarios.guardedPages()
            defer { guardedLayers.unmap() }
            let straddlingLayers = guardedLayers.address + pageSize - RawLayer.stride
            RawLayer.store([RawLayer(fileDescriptor: fd, segmentsAt: straddlingSegments, segmentsSize: 4)], at: straddlingLayers)
            expectRejected(device, RawStackRequest(baseAddress: base, layersAt: straddlingLayers, layersSize: 2), EFAULT,
                           "layers running into a PROT_NONE page")
            let command = OverlayDevice.stackCommand
            expectErrno(device.ioctl(command, nil), EFAULT, "request NULL")
            expectErrno(device.ioctl(command, guarded.address + pageSize), EFAULT, "request in a PROT_NONE page")
            // A request whose size field is readable and the rest is not
            // (in a page of its own: the segments above stay intact).
            let guardedRequest = try ErrnoScenarios.guardedPages()
            defer { guardedRequest.unmap() }
            let straddlingRequest = guardedRequest.address + pageSize - 8
            RawStackRequest(baseAddress: base, layersAt: straddlingLayers, layersSize: 1).store(at: straddlingRequest, byteCount: 8)
            expectErrno(device.ioctl(command, straddlingRequest), EFAULT, "request running into a PROT_NONE page")
            // A larger request whose unknown tail lies in the PROT_NONE page.
            let longRequest = guardedRequest.address + pageSize - RawStackRequest.size
            var long = RawStackRequest(baseAddress: base, layersAt: straddlingLayers, layersSize: 1)
            long.size = UInt32(RawStackRequest.size + 8)
            long.store(at: longRequest, byteCount: RawStackRequest.size)
            expectErrno(device.ioctl(command, longRequest), EFAULT, "size \(long.size) with its tail in a PROT_NONE page")
            // A readable but read-only request: the id cannot be written back.
            let readOnly = try MappedFile.anonymous(pages: 1)
            defer { readOnly.unmap() }
            RawStackRequest(baseAddress: base, layersAt: straddlingLayers, layersSize: 1).store(at: readOnly.address)
            try require(mprotect(readOnly.address, pageSize, PROT_READ) == 0, "mprotect: \(Errno.current)")
            expectErrno(device.ioctl(command, readOnly.address), EFAULT, "request in a read-only page (id not writable)")
            verifyPages(shared, fixture.seed.baseView, label: "the MAP_SHARED mapping after the failed requests")
            expect(UnsafeRawBufferPointer(start: anonymous.address, count: anonymous.length).allSatisfy { $0 == 0xAB },
                   "the anonymous mapping changed")
            expectUnchangedAndUsable(device, fixture, "after bad request contents")
        }
    }

    static func mappingState() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            let zebra = open(DataFile.zebra.name, O_RDONLY | O_CLOEXEC)
            try require(zebra >= 0, "open \(DataFile.zebra.name): \(Errno.current)")
            defer { close(zebra) }
            let id = try device.stack(fixture.goodRequest, "first chain")
            let zebraLayer = RawLayer(fileDescriptor: zebra, segments: RawSegments(ranges: [0...300]))
            expectRejected(device, RawStackRequest(baseAddress: fixture.base.innerAddress, layers: [zebraLayer]), EEXIST,
                           "second v2 request on the overlaid mapping")
            expectRejected(device, fixture.goodRequest, EEXIST, "the same request again")
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, fixture.seed.seedView, label: "overlaid mapping after EEXIST")
            expect(ownListedIDs() == [id], "listed ids after EEXIST: \(ownListedIDs()), want [\(id)]")
            expectErrno(try device.cleanup(id), 0, "cleanup after EEXIST")

            let written = try Fixture()
            defer { written.close() }
            var generator = freshGenerator()
            let bytes = generator.page()
            try require(written.base.write(filePage: 5, bytes: bytes) == 0, "writing page 5 faulted")
            var view = written.seed.baseView
            view.write(page: 5, bytes: bytes, what: "the data written to page 5")
            expectRejected(device, written.goodRequest, EBUSY, "v2 request on a mapping with a private write")
            verifyPages(written.base, view, label: "written mapping after EBUSY")
            let clean = try Fixture()
            defer { clean.close() }
            expectUnchangedAndUsable(device, clean, "a new mapping after EBUSY")
        }
    }

    static func allOrNothing() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            var layers: [SparseLayer] = []
            defer { layers.forEach { $0.close() } }
            for index in 0..<10 {
                layers.append(try SparseLayer.write(name: "all-or-nothing-\(index)", pages: 1024,
                                                    data: [(index * 50)...(index * 50 + 80)], stream: 200 + UInt32(index)))
            }
            let good = layers.prefix(9).map { $0.raw() }
            let writeOnly = open(DataFile.zebra.name, O_WRONLY | O_CLOEXEC)
            try require(writeOnly >= 0, "open O_WRONLY: \(Errno.current)")
            defer { close(writeOnly) }
            let bad: [(RawLayer, Int32, String)] = [
                (RawLayer.dataExtents(fileDescriptor: -1), EBADF, "descriptor -1"),
                (RawLayer.dataExtents(fileDescriptor: writeOnly), EACCES, "write-only descriptor"),
                (RawLayer(fileDescriptor: layers[9].fd, flags: 8, segments: RawSegments(ranges: [0...1])), EINVAL, "layer flags 8"),
                (RawLayer(fileDescriptor: layers[9].fd, segments: RawSegments(pairs: [(start: 5, end: 1)])), EINVAL, "end < start"),
                (RawLayer(fileDescriptor: layers[9].fd, segmentsAt: nil, segmentsSize: UInt64(SegmentList.maximumCount) + 1),
                 E2BIG, "too many segments"),
                (RawLayer(fileDescriptor: layers[9].fd, segmentsAt: nil, segmentsSize: 3), EFAULT, "segments NULL"),
            ]
            for (layer, want, what) in bad {
                expectRejected(device, RawStackRequest(baseAddress: fixture.base.address, layers: good + [layer]), want,
                               "9 good layers and a bad 10th: \(what)")
            }
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, fixture.seed.baseView, label: "base mapping after the refused chains")
            expect(ownListedIDs().isEmpty, "ids left registered after refused chains: \(ownListedIDs())")

            let id = try device.stack(RawStackRequest(baseAddress: fixture.base.address, layers: layers.map { $0.raw() }),
                                      "the ten good layers")
            var view = fixture.seed.baseView
            for layer in layers { view.overlay(layer.image, layer.dataPages.ranges) }
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, view, label: "ten good layers")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    // MARK: Chains

    /// Lays `layers` (odd ones by a segment list that also spans holes,
    /// even ones by data extents) over a fresh mapping of base.bin in one
    /// request and checks every page against the model with cold caches,
    /// the listing, and that the chain has one id.
    static func checkChain(_ device: OverlayDevice, _ data: TestData, layers: [SparseLayer], pages: Int? = nil,
                           segments: (Int, SparseLayer) -> [ClosedRange<Int>]?, label: String) throws {
        let base = try MappedFile.map(DataFile.base.name, pages: pages, protection: PROT_READ | PROT_WRITE)
        defer { base.unmap() }
        var raw: [RawLayer] = []
        var view = ExpectedView(base: data.base)
        var sets: [PageSet] = []
        for (index, layer) in layers.enumerated() {
            let given = segments(index, layer)
            raw.append(layer.raw(segments: given))
            let pages = given.map { PageSet($0) } ?? layer.dataPages
            sets.append(pages)
            view.overlay(layer.image, pages.ranges)
        }
        let clock = Stopwatch()
        let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: raw), label)
        Log.note("\(label): one request in \(clock.elapsedNanoseconds / 1000) µs")
        try SystemFiles.dropCaches()
        verifyPages(base, view, label: "\(label) (caches dropped)")
        expectListing(id, ChainView(basePages: base.pageCount, layers: sets), label, servedToo: pages == nil)
        expect(ownListedIDs() == [id], "\(label): listed ids \(ownListedIDs()), want just [\(id)]")
        expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
        expectErrno(try device.cleanup(id), ENOENT, "\(label): second cleanup")
        verifyPages(base, view, label: "\(label) after cleanup")
    }

    static func shortChains() throws {
        try withDevice { device in
            let data = try TestData.load()
            for count in [1, 2, 10] {
                var layers: [SparseLayer] = []
                defer { layers.forEach { $0.close() } }
                for k in 1...count {
                    let start = (k * 37) % 800
                    layers.append(try SparseLayer.write(
                        name: "chain\(count)-\(k)", pages: 1024,
                        data: [start...(start + 19), (900 + k * 5)...(900 + k * 5 + 2)],
                        partial: [(start + 40) % 1000], stream: 300 + UInt32(k)))
                }
                // Odd layers name their pages, holes around the data included.
                try checkChain(device, data, layers: layers, segments: { index, layer in
                    guard index % 2 == 0 else { return nil }
                    let first = layer.data[0].lowerBound
                    return [max(0, first - 5)...(first + 29), 1000...1010]
                }, label: "chain of \(count)")
            }
        }
    }

    static func longestChain() throws {
        try withDevice { device in
            let data = try TestData.load()
            var layers: [SparseLayer] = []
            defer { layers.forEach { $0.close() } }
            let count = RawStackRequest.maximumLayers
            // 512 pages of base.bin mapped: every page checked costs a read
            // of the layer that serves it, and a TCG guest is slow.
            for index in 0..<count {
                let start = (index * 2) % 500
                layers.append(try SparseLayer.write(name: "chain255-\(index)", pages: 512,
                                                    data: [start...(start + 4), (505 + index % 5)...(505 + index % 5)],
                                                    stream: 1000 + UInt32(index)))
            }
            try checkChain(device, data, layers: layers, pages: 512, segments: { index, layer in
                index % 3 == 0 ? [layer.data[0].lowerBound...(layer.data[0].lowerBound + 2)] : nil
            }, label: "chain of \(count)")
        }
    }

    static func dataExtents() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let holes = try SparseLayer.write(name: "holes", pages: pages, data: [], stream: 400)
            defer { holes.close() }
            let full = try SparseLayer.write(name: "full", pages: pages, data: [0...(pages - 1)], stream: 401)
            defer { full.close() }
            // Whole pages, 100 bytes inside page 10, a byte at the end of
            // page 40 and one at the start of page 41 (neighbouring pages
            // partly data), and a file ending 100 bytes into page 700 with
            // data there.
            let partial = try SparseLayer.write(name: "partial", pages: 701, bytes: 700 * pageSize + 100,
                                                data: [20...22, 700...700], partial: [10], stream: 402)
            defer { partial.close() }
            let writable = try reopenWritable(partial)
            defer { close(writable) }
            try require(pwrite(writable, [UInt8(0x5A)], 1, off_t(41 * pageSize - 1)) == 1, "write the last byte of page 40")
            try require(pwrite(writable, [UInt8(0x5A)], 1, off_t(41 * pageSize)) == 1, "write the first byte of page 41")
            try require(fsync(writable) == 0, "fsync: \(Errno.current)")
            let partialPages = PageSet([10...10, 20...22, 40...41, 700...700])

            // The library finds what the module will.
            for (layer, want) in [(holes, PageSet([])), (full, PageSet([0...(pages - 1)])), (partial, partialPages)] {
                expect(lseek(layer.fd, 12345, SEEK_SET) == 12345, "\(layer.name): lseek")
                do {
                    let found = try SegmentList(dataExtentsOf: FileDescriptor(rawValue: layer.fd))
                    expect(PageSet(found) == want, "\(layer.name): SegmentList(dataExtentsOf:) \(found.ranges), want \(want.ranges)")
                    expect(found.merged == found.ranges, "\(layer.name): extents not merged and sorted: \(found.ranges)")
                } catch {
                    Log.fail("\(layer.name): SegmentList(dataExtentsOf:): \(error)")
                }
                expect(lseek(layer.fd, 0, SEEK_CUR) == 12345, "\(layer.name): the library moved the file position")
            }

            // Each alone, then all three in one chain (holes in the middle).
            for (layers, label) in [([holes], "all-holes diff"), ([full], "all-data diff"), ([partial], "partial-page diff"),
                                    ([full, holes, partial], "all-data, all-holes and partial diffs")] {
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                var view = ExpectedView(base: data.base)
                var sets: [PageSet] = []
                for layer in layers {
                    let set = layer.name == "holes" ? PageSet([]) : layer.name == "full" ? PageSet([0...(pages - 1)]) : partialPages
                    sets.append(set)
                    view.overlay(layer.image, set.ranges)
                }
                let id = try device.stack(RawStackRequest(baseAddress: base.address,
                                                          layers: layers.map { RawLayer.dataExtents(fileDescriptor: $0.fd) }),
                                          label)
                for layer in layers {
                    expect(lseek(layer.fd, 0, SEEK_CUR) == 12345, "\(label): the request moved \(layer.name)'s file position")
                }
                try SystemFiles.dropCaches()
                verifyPages(base, view, label: "\(label) (caches dropped)")
                expectListing(id, ChainView(basePages: pages, layers: sets), label)
                expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
            }
        }
    }

    /// A layer with preallocated blocks, on the test disk (ext4, which
    /// keeps an extent map) and on tmpfs (which does not): data written at
    /// pages 0...9 and 60 and written back; pages 20..<40 preallocated, page
    /// 30 written into them (left dirty), page 35 read (its zeros cached);
    /// pages past the end preallocated too. Only 0...9, 30 and 60 hold
    /// data, by either way of finding it.
    static func preallocatedDataExtents() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            let want = PageSet([0...9, 30...30, 60...60])
            for (directory, filesystem) in [(".", "ext4"), ("/dev/shm", "tmpfs")] {
                let path = "\(directory)/.overlay-tests-\(getpid())-preallocated"
                let writer = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                try require(writer >= 0, "\(filesystem): create \(path): \(Errno.current)")
                unlink(path)
                let page = [UInt8](repeating: 0xC3, count: pageSize)
                func writePage(_ index: Int) throws {
                    try require(pwrite(writer, page, pageSize, off_t(index * pageSize)) == pageSize,
                                "\(filesystem): write page \(index): \(Errno.current)")
                }
                try require(ftruncate(writer, off_t(pages * pageSize)) == 0, "\(filesystem): ftruncate")
                for index in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 60] { try writePage(index) }
                try require(fsync(writer) == 0, "\(filesystem): fsync: \(Errno.current)")
                try require(batch_syscalls_fallocate(writer, 0, 20 * pageSize, 20 * pageSize) == 0,
                            "\(filesystem): fallocate pages 20..<40: \(Errno.current)")
                try require(batch_syscalls_fallocate(writer, FALLOC_FL_KEEP_SIZE, pages * pageSize, 16 * pageSize) == 0,
                            "\(filesystem): fallocate past the end: \(Errno.current)")
                try writePage(30)
                var zeros = [UInt8](repeating: 1, count: pageSize)
                try require(pread(writer, &zeros, pageSize, off_t(35 * pageSize)) == pageSize, "\(filesystem): read page 35")
                expect(zeros.allSatisfy { $0 == 0 }, "\(filesystem): a preallocated page reads as zeros")
                let reader = open("/proc/self/fd/\(writer)", O_RDONLY | O_CLOEXEC)
                close(writer)
                try require(reader >= 0, "\(filesystem): reopen read-only: \(Errno.current)")
                defer { close(reader) }
                let label = "\(filesystem) layer with preallocated pages"

                do {
                    let found = try SegmentList(dataExtentsOf: FileDescriptor(rawValue: reader))
                    expect(PageSet(found) == want, "\(label): SegmentList(dataExtentsOf:) \(found.ranges), want \(want.ranges)")
                } catch {
                    Log.fail("\(label): SegmentList(dataExtentsOf:): \(error)")
                }
                let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { base.unmap() }
                let id = try device.stack(RawStackRequest(baseAddress: base.address,
                                                          layers: [RawLayer.dataExtents(fileDescriptor: reader)]), label)
                let view = ExpectedView(base: data.base).overlaid(try FileImage.onDemand(fd: reader, name: label), want.ranges)
                try SystemFiles.dropCaches()
                verifyPages(base, view, label: "\(label) (caches dropped)")
                expectListing(id, ChainView(basePages: pages, layers: [want]), label)
                expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
            }
        }
    }

    /// A writable descriptor of a layer's file.
    private static func reopenWritable(_ layer: SparseLayer) throws -> Int32 {
        let fd = open("/proc/self/fd/\(layer.fd)", O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("reopen \(layer.name) for writing") }
        return fd
    }

    static func mixedRequests() throws {
        try withDevice { device in
            let fixture = try Fixture()
            defer { fixture.close() }
            let zebra = try MappedFile.map(DataFile.zebra.name)
            defer { zebra.unmap() }
            let lower = try SparseLayer.write(name: "mixed-lower", pages: 1024, data: [60...90, 500...520], stream: 500)
            defer { lower.close() }
            let upper = try SparseLayer.write(name: "mixed-upper", pages: 1024, data: [85...100, 515...600], stream: 501)
            defer { upper.close() }
            let base = fixture.base
            var view = fixture.seed.seedView

            let v1 = try device.overlay(base: base, overlay: fixture.seed.overlay, segments: seedSegments)
            expectRejected(device, RawStackRequest(baseAddress: base.innerAddress, layers: [lower.raw()]), EEXIST,
                           "v2 request on a mapping with a registered v1 overlay")
            expectErrno(try device.cleanup(v1), 0, "v1 cleanup")
            let v2 = try device.stack(RawStackRequest(baseAddress: base.address, layers: [lower.raw()]), "v2 over v1")
            view.overlay(lower.image, lower.dataPages.ranges)
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "v2 chain stacked on a v1 overlay")
            switch device.create(RawCreateRequest(base: base.address, overlay: zebra.address, segments: [0...10])) {
            case .success(let id):
                Log.fail("a v1 request on a mapping with a registered v2 chain was accepted")
                try? device.cleanup(id)
            case .failure(let error):
                expectErrno(error.rawValue, EEXIST, "v1 request on a mapping with a registered v2 chain")
            }
            expectErrno(try device.cleanup(v2), 0, "v1 cleanup request of the v2 id")
            let second = try device.overlay(base: base, overlay: zebra, segments: [80...88, 510...512])
            view.overlay(fixture.seed.data.zebra, [80...88, 510...512])
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "v1 overlay stacked on the v2 chain")
            expectErrno(try device.cleanup(second), 0, "cleanup of the v1 overlay")
            let top = try device.stack(RawStackRequest(baseAddress: base.address, layers: [lower.raw(), upper.raw()]),
                                       "a second v2 chain on top")
            view.overlay(lower.image, lower.dataPages.ranges)
            view.overlay(upper.image, upper.dataPages.ranges)
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "v2, v1 and v2 stacked")
            if let entry = LiveOverlay.entry(for: top) {
                // base.bin, overlay.bin, the zebra, lower and upper: one layer per file.
                expect(entry.layerCount <= 5, "\(entry.layerCount) layers listed for five distinct files")
            } else {
                Log.fail("the top chain's id is not listed")
            }
            expectErrno(try device.cleanup(top), 0, "cleanup of the top chain")
            expectErrno(try device.cleanup(top), ENOENT, "second cleanup of the top chain")
        }
    }

    static func chainLifetimes() throws {
        try withDevice { device in
            let data = try TestData.load()
            var layers: [SparseLayer] = []
            defer { layers.forEach { $0.close() } }
            for k in 0..<3 {
                layers.append(try SparseLayer.write(name: "lifetime-\(k)", pages: 1024,
                                                    data: [(k * 100)...(k * 100 + 150), (700 + k)...(800 + k)], stream: 600 + UInt32(k)))
            }
            var view = ExpectedView(base: data.base)
            for layer in layers { view.overlay(layer.image, layer.dataPages.ranges) }
            let request = { (base: MappedFile) in RawStackRequest(baseAddress: base.address, layers: layers.map { $0.raw() }) }

            // A child sees the chain and exits first; it may not clean up.
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            let id = try device.stack(request(base), "chain before fork")
            try SystemFiles.dropCaches()
            let first = ChildProcess.spawn("child reading the chain") {
                verifyPages(base, view, label: "child's inherited chain (cold)")
                expectErrno(try device.cleanup(id), EPERM, "cleanup from the child")
            }
            first.expectSuccess("child reading the chain")
            verifyPages(base, view, label: "parent's chain after the child exited")

            // The parent unmaps first; the child's mapping keeps the id.
            let go = try EventPipe()
            let second = ChildProcess.spawn("child outliving the parent's mapping") {
                go.closeWrite()
                _ = go.receive()
                verifyPages(base, view, label: "child's chain after the parent unmapped")
            }
            go.closeRead()
            base.unmap()
            expect(LiveOverlay.entry(for: id) != nil, "the id went with the parent's mapping while the child maps it")
            try SystemFiles.dropCaches()
            go.send()
            second.expectSuccess("child outliving the parent's mapping")
            go.closeWrite()
            expect(LiveOverlay.entry(for: id) == nil, "the id is still listed after the last mapping went")
            expectErrno(try device.cleanup(id), ENOENT, "cleanup after the last mapping went")

            // A partial munmap leaves two parts that show the chain; the id
            // goes with the last of them.
            let split = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            let splitID = try device.stack(request(split), "chain to split")
            try require(munmap(split.pointer(toFilePage: 100), 100 * pageSize) == 0, "munmap: \(Errno.current)")
            let low = split.part(0..<100)
            let high = split.part(200..<split.pageCount)
            try SystemFiles.dropCaches()
            verifyPages(low, view, label: "pages 0-99 after a partial munmap")
            verifyPages(high, view, label: "pages 200- after a partial munmap")
            low.unmap()
            expect(LiveOverlay.entry(for: splitID) != nil, "the id went while part of the mapping is left")
            high.unmap()
            expect(LiveOverlay.entry(for: splitID) == nil, "the id is still listed after the whole mapping went")

            // A child lays its own chain and exits without cleaning up.
            var ends: [Int32] = [0, 0]
            try require(pipe(&ends) == 0, "pipe: \(Errno.current)")
            let third = ChildProcess.spawn("child exiting with its chain") {
                close(ends[0])
                let own = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                let childID = try device.stack(request(own), "child's chain")
                verifyPages(own, view, label: "child's own chain")
                _ = childID.bytes.withUnsafeBytes { write(ends[1], $0.baseAddress!, 16) }
            }
            close(ends[1])
            var bytes = [UInt8](repeating: 0, count: 16)
            let count = bytes.withUnsafeMutableBytes { read(ends[0], $0.baseAddress!, 16) }
            close(ends[0])
            third.expectSuccess("child exiting with its chain")
            if count == 16, let childID = OverlayID(bytes: bytes) {
                expect(LiveOverlay.entry(for: childID) == nil, "the child's id \(childID) is still listed after it exited")
            } else {
                Log.fail("the child did not report its id")
            }
        }
    }
}
