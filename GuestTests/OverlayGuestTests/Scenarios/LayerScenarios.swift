// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// How the module reads and composes layers: shmem layers, writes to a
/// layer from the overlaid mapping, overlay files nested as layers, long
/// stacks of requests, and the debugfs listing of live overlays.
enum LayerScenarios {
    static var all: [Scenario] { [
        Scenario("layers: a memfd (shmem) file as the overlay layer", shmemLayer),
        Scenario("layers: writing the overlaid mapping into its own base layer (no deadlock, file gets the view)",
                 writeIntoLayer),
        Scenario("layers: overlay files nested as layers through map_files are flattened to plain files, any depth",
                 nestedOverlays),
        Scenario("layers: long stacks reuse a layer file, drop unused layers, E2BIG past 256 layers", longStacks),
        Scenario("listing: debugfs lists registered overlays with exact per-layer counts, no addresses", listing),
    ] }

    static func shmemLayer() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let memfd = batch_syscalls_memfd_create("overlay-tests-layer")
            if memfd < 0 { throw SysError("memfd_create") }
            defer { close(memfd) }
            // The zebra pattern, so memfd pages differ from base and overlay pages.
            let zebra = fixture.data.zebra
            for page in 0..<zebra.pageCount {
                let bytes = zebra.bytes(ofPage: page)
                let n = bytes.withUnsafeBytes { pwrite(memfd, $0.baseAddress!, $0.count, off_t(page * pageSize)) }
                if n != bytes.count { throw SysError("pwrite memfd") }
            }
            let layer = try MappedFile.map(fd: memfd, name: "memfd zebra")
            defer { layer.unmap() }
            let segments = [1...1, 3...40, 500...1023]
            let id = try device.overlay(base: fixture.base, overlay: layer, segments: segments)
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, fixture.baseView.overlaid(zebra, segments), label: "memfd layer (caches dropped)")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// The "merge the overlay back into the base file" use: pwrite() of the
    /// overlaid mapping into the very file its base pages come from, with
    /// caches dropped, so the copy faults pages in while the write holds the
    /// file's locks. It must finish, and the file must end up holding the
    /// overlaid view.
    static func writeIntoLayer() throws {
        try withDevice { device in
            let data = try TestData.load()
            let copy = try ScratchFile.copy(of: DataFile.base.name, bytes: data.base.size, name: "base-merge")
            defer { copy.close() }
            let base = try MappedFile.map(fd: copy.fd, name: "copy of base.bin", protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let overlay = try MappedFile.map(DataFile.overlay.name)
            defer { overlay.unmap() }
            let id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
            let view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
            try SystemFiles.dropCaches()
            var offset = 0
            while offset < base.length {
                let chunk = min(64 * pageSize, base.length - offset)
                let n = pwrite(copy.fd, base.address + offset, chunk, off_t(offset))
                if n != chunk { throw SysError("pwrite of the overlaid mapping into its base layer at \(offset)") }
                offset += chunk
            }
            let merged = try FileImage.load(fd: copy.fd, name: "merged base")
            let expected = FileImage.composed(view, name: "the overlaid view")
            if let page = merged.firstDifferingPage(from: expected) {
                Log.fail("the base file after the merge differs from the overlaid view at page \(page)")
            }
            verifyPages(base, view, label: "mapping after the merge")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// O1 overlays base.bin with overlay.bin; O1's file, reopened through
    /// /proc/self/map_files and mapped, is the overlay layer of O2 over
    /// base2.bin, and so on. Every level reads right, and however deep the
    /// nesting, an overlay reads plain files only: its layers are among
    /// base.bin, base2.bin and overlay.bin (the module flattens an overlay
    /// file into its own layers, so there is no depth limit any more).
    static func nestedOverlays() throws {
        try withDevice { device in
            let data = try TestData.load()
            var keep: [MappedFile] = []
            var descriptors: [Int32] = []
            defer {
                keep.forEach { $0.unmap() }
                descriptors.forEach { close($0) }
            }
            var layer = try MappedFile.map(DataFile.overlay.name)
            var layerImage = data.overlay
            keep.append(layer)
            for depth in 1...5 {
                let baseFile = depth % 2 == 1 ? DataFile.base.name : DataFile.base2.name
                let base = try MappedFile.map(baseFile, protection: PROT_READ | PROT_WRITE)
                keep.append(base)
                // Each level overlays other pages, so every level shows through.
                let segments = [(depth * 100)...(depth * 100 + 150)]
                let request = RawCreateRequest(base: base.address, overlay: layer.address, segments: segments)
                let id = try device.overlay(request, "nested level \(depth)")
                if let entry = LiveOverlay.entry(for: id) {
                    expect(entry.layerCount >= 2 && entry.layerCount <= 3,
                           "nested level \(depth): \(entry.layerCount) layers, want 2 or 3 plain files")
                } else {
                    Log.fail("nested level \(depth): its id is not listed")
                }
                let baseImage = depth % 2 == 1 ? data.base : data.base2
                let view = ExpectedView(base: baseImage).overlaid(layerImage, segments)
                try SystemFiles.dropCaches()
                verifyPages(base, view, label: "nested level \(depth) (caches dropped)")
                // The next level's layer: this overlay's file, reopened.
                let fd = open(base.mapFilesPath, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw SysError("open \(base.mapFilesPath)") }
                descriptors.append(fd)
                layer = try MappedFile.map(fd: fd, name: "overlay file of level \(depth)")
                keep.append(layer)
                layerImage = FileImage.composed(view, name: "overlay file of level \(depth)")
            }
        }
    }

    /// Requests stacked on one mapping, each after the previous one's
    /// cleanup. Requests laid from one overlay mapping share its layer; with
    /// the base and overlay.bin's layer, 254 more distinct layer files make
    /// 256 layers, and one more is E2BIG (nothing changes); a request that
    /// covers every page they served drops them all.
    static func longStacks() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            var view = fixture.baseView
            // 300 requests, one page each, all from overlay.bin's mapping.
            for page in 0..<300 {
                let id = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: [page...page])
                if page == 299, let entry = LiveOverlay.entry(for: id) {
                    expect(entry.layerCount == 2, "layers after 300 requests from one mapping: \(entry.layerCount), want 2")
                }
                expectErrno(try device.cleanup(id), 0, "cleanup of request \(page)")
            }
            view.overlay(fixture.data.overlay, [0...299])
            verifyPages(fixture.base, view, label: "300 requests from one layer mapping")

            // Distinct layer files: sparse files of the zebra file's size
            // holding just the zebra page each one serves.
            var layers: [MappedFile] = []
            defer { layers.forEach { $0.unmap() } }
            let zebra = fixture.data.zebra
            for index in 0..<255 {
                let page = index < 254 ? 400 + index : 700
                let file = try ScratchFile.create(name: "layer-\(index)")
                defer { file.close() }
                if ftruncate(file.fd, off_t(zebra.size)) != 0 { throw SysError("ftruncate layer \(index)") }
                let bytes = zebra.bytes(ofPage: page)
                let n = bytes.withUnsafeBytes { pwrite(file.fd, $0.baseAddress!, $0.count, off_t(page * pageSize)) }
                if n != bytes.count { throw SysError("pwrite layer \(index)") }
                layers.append(try MappedFile.map(fd: file.fd, name: "layer file \(index)"))
            }
            for index in 0..<254 {
                let page = 400 + index
                let id = try device.overlay(base: fixture.base, overlay: layers[index], segments: [page...page])
                expectErrno(try device.cleanup(id), 0, "cleanup of distinct layer \(index)")
            }
            view.overlay(zebra, [400...653])
            switch device.create(RawCreateRequest(base: fixture.base.address, overlay: layers[254].address,
                                                segments: [700...700])) {
            case .success(let id):
                Log.fail("a request making a 257th layer was accepted")
                try? device.cleanup(id)
            case .failure(let error):
                expect(error.rawValue == E2BIG, "request making a 257th layer: \(error), want E2BIG")
            }
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, view, label: "256 layers, after the refused 257th (caches dropped)")

            // One request over everything the stack served drops every layer.
            let id = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: [0...699])
            view.overlay(fixture.data.overlay, [0...699])
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, view, label: "after a request covering the whole stack")
            if let entry = LiveOverlay.entry(for: id) {
                expect(entry.layerCount == 2, "layers after covering the stack: \(entry.layerCount), want 2")
            } else {
                Log.fail("the last request's id is not listed")
            }
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    static func listing() throws {
        try withDevice { device in
            let path = LiveOverlay.listingPath.string
            guard SystemFiles.exists(path) else { throw SkipScenario("no \(path)") }
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let second = try MappedFile.map(DataFile.base2.name, protection: PROT_READ | PROT_WRITE)
            defer { second.unmap() }
            let first = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: seedSegments)
            let other = try device.overlay(base: second, overlay: fixture.overlay, segments: [0...9])
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, fixture.seedView, label: "listed overlay")

            let text = SystemFiles.read(path) ?? ""
            Log.note("listing:\n" + text)
            let overlaid = PageSet(seedSegments).ranges.reduce(0) { $0 + $1.count }
            if let entry = LiveOverlay.entry(for: first, in: text) {
                expect(entry.processID == Int(getpid()), "pid \(entry.processID), want \(getpid())")
                expect(entry.segmentCount == 5, "segments \(entry.segmentCount), want 5 (the seed's six, merged)")
                expect(entry.layerCount == 2 && entry.attachedRequests == 1 && entry.overlayNumber > 0,
                       "layers \(entry.layerCount) attached \(entry.attachedRequests) overlay \(entry.overlayNumber), want 2, 1 and a number")
                expect(entry.pagesServed == [fixture.base.pageCount - overlaid, overlaid],
                       "served \(entry.pagesServed), want [\(fixture.base.pageCount - overlaid), \(overlaid)]")
                expect(entry.cachedPages == fixture.base.pageCount,
                       "cached pages \(entry.cachedPages), want \(fixture.base.pageCount)")
            } else {
                Log.fail("the first overlay's id \(first) is not listed")
            }
            expect(LiveOverlay.entry(for: other, in: text) != nil, "the second overlay's id \(other) is not listed")
            // Nothing but the id is hexadecimal, and no number looks like a
            // kernel address (x86-64 kernel addresses start at 0xffff8...).
            for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "=" }) {
                if let value = UInt64(field, radix: 16), field.count >= 12, value >= 0xffff_8000_0000_0000 {
                    Log.fail("listing field \(field) looks like a kernel address")
                }
            }
            expectErrno(try device.cleanup(first), 0, "cleanup")
            expect(LiveOverlay.entry(for: first) == nil, "a cleaned-up id is still listed")
            expectErrno(try device.cleanup(other), 0, "cleanup of the second overlay")
        }
    }
}

extension LiveOverlay {
    /// The listed overlay with `id` in `text` (by default the listing as it
    /// is now), if any.
    static func entry(for id: OverlayID, in text: String? = nil) -> LiveOverlay? {
        let listing = text ?? SystemFiles.read(listingPath.string) ?? ""
        return listing.split(separator: "\n").lazy.compactMap { LiveOverlay(listingLine: $0) }.first { $0.id == id }
    }
}
