// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// How segments compose: merged, stacked after cleanup, past the overlay's end.
enum SegmentScenarios {
    static var all: [Scenario] { [
        Scenario("segments: unsorted, overlapping and duplicate segments are accepted and merged", mergedSegments),
        Scenario("segments: a request after cleanup stacks over what the mapping shows (union)", stacking),
        Scenario("segments: pages past the overlay's end raise SIGBUS (short overlay copy)", pastOverlayEnd),
    ] }

    static func mergedSegments() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (data, base, overlay) = (fixture.data, fixture.base, fixture.overlay)
            let last = base.pageCount - 1
            let segments = [80...140, 30...70, 0...0, 50...90, 4...6, 5...5, 21...21, 20...20, 130...135, 3...7,
                            300...300, 300...300, 299...301, (last - 2)...last, 250...260, 261...270]
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            Log.note("\(segments.count) segments merge into \(PageSet(segments).ranges.count) runs")
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "unsorted overlapping segments")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// overlay.bin over pages 0..99, cleanup, then overlay_zebra.bin over
    /// 50..149: 0..49 show overlay.bin, 50..149 the zebra, the rest base.bin;
    /// pages never read before the second request included.
    static func stacking() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (data, base, overlay) = (fixture.data, fixture.base, fixture.overlay)
            let zebra = try MappedFile.map(DataFile.zebra.name)
            defer { zebra.unmap() }
            let first = try device.overlay(base: base, overlay: overlay, segments: [0...99])
            var view = ExpectedView(base: data.base).overlaid(data.overlay, [0...99])
            let verifier = PageVerifier("first layer (pages 0..24 read)", view: view)
            for page in 0..<25 { verifier.check(base, filePage: page) }
            verifier.finish()
            expectErrno(try device.cleanup(first), 0, "cleanup of the first request")
            let second = try device.overlay(RawCreateRequest(base: base.innerAddress, overlay: zebra.address, segments: [50...149]),
                                            "second request after cleanup")
            view.overlay(data.zebra, [50...149])
            verifyPages(base, view, label: "two stacked layers")
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "two stacked layers (caches dropped)")
            expectErrno(try device.cleanup(second), 0, "cleanup of the second request")
            // A third layer: overlay.bin again over 140..160.
            let third = try device.overlay(base: base, overlay: overlay, segments: [140...160])
            view.overlay(data.overlay, [140...160])
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "three stacked layers (caches dropped)")
            expectErrno(try device.cleanup(third), 0, "cleanup of the third request")
        }
    }

    /// An overlay copy of 100.5 pages: page 100 shows half overlay data and
    /// zeros; pages 101.. in a segment raise SIGBUS on read and on write.
    static func pastOverlayEnd() throws {
        try withDevice { device in
            let data = try TestData.load()
            let copy = try ScratchFile.copy(of: DataFile.overlay.name, bytes: 100 * pageSize + pageSize / 2, name: "short-overlay")
            defer { copy.close() }
            let short = try FileImage.load(fd: copy.fd, name: "short copy of overlay.bin")
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let overlay = try MappedFile.map(fd: copy.fd, name: short.name)
            defer { overlay.unmap() }
            let segments = [0...1, 90...120, 200...210]
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            let view = ExpectedView(base: data.base).overlaid(short, segments)
            verifyPages(base, view, label: "segments past the overlay's end")
            for page in [101, 120, 205] {
                let signal = base.write(filePage: page, bytes: [1])
                expect(signal == SIGBUS, "writing page \(page) past the overlay's end: expected SIGBUS, got \(signal == 0 ? "no fault" : signalName(signal))")
            }
            var written = view
            var bytes = short.bytes(ofPage: 95)
            bytes[0] ^= 0xFF
            expect(base.write(filePage: 95, bytes: [bytes[0]]) == 0, "writing page 95 (inside the overlay) faulted")
            written.write(page: 95, bytes: bytes, what: "overlay page 95 with its first byte flipped")
            try SystemFiles.dropCaches()
            verifyPages(base, written, label: "segments past the overlay's end after writes (caches dropped)")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }
}
