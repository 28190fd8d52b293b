// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// Reads of overlay pages show overlay data whatever the page cache holds.
enum PageFaultScenarios {
    static var all: [Scenario] { [
        Scenario("page_fault: warm cache") {
            try withDevice { try PageFaultRun(caches: .warm).run($0) }
        },
        Scenario("page_fault: caches dropped after the request, mapping touched before the files are read") {
            try withDevice { try PageFaultRun(caches: .droppedAfterRequest).run($0) }
        },
        Scenario("page_fault: caches dropped before the request") {
            try withDevice { try PageFaultRun(caches: .droppedBeforeRequest).run($0) }
        },
        Scenario("page_fault: fault-around off (fault_around_bytes=4096), warm and cold") {
            try withDevice { device in
                try withFaultAroundBytes(4096) {
                    try PageFaultRun(caches: .warm).run(device)
                    try PageFaultRun(caches: .droppedAfterRequest).run(device)
                }
            }
        },
        // One readahead request then spans several of the module's 64-page
        // fill batches (Debian's 7.x gives virtio disks 8 MiB; NVMe hosts
        // and a raised read_ahead_kb do too): every batch, not only the
        // first, must start at its own first page.
        Scenario("page_fault: a large readahead window (read_ahead_kb=8192) fills every batch of a request at its own pages, caches dropped") {
            try withDevice { device in
                try withTestDiskReadahead(kib: 8192) {
                    try PageFaultRun(caches: .droppedBeforeRequest).run(device)
                    try PageFaultRun(caches: .droppedAfterRequest).run(device)
                }
            }
            try withTestDiskReadahead(kib: 8192) { try directReads() }
        },
        Scenario("page_fault: segments are file page offsets (mappings at nonzero file offsets)", fileOffsets),
        Scenario("page_fault: a cold first touch reads ext4 layers directly, leaving their page cache empty",
                 directReads),
    ] }

    /// With cold caches, layers on a block device are read with direct I/O
    /// into the overlay's own pages: every page shows the right data, and
    /// neither layer file's page cache holds a copy (mincore on fresh
    /// mappings of them, before anything else reads them).
    static func directReads() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let base = fixture.base
            let segments = SeedSegments.zebra(pages: base.pageCount, run: 1, overlayFirst: false).ranges + [100...140]
            let id = try device.overlay(base: base, overlay: fixture.overlay, segments: segments)
            // Also drops what loading the expected data read.
            try SystemFiles.dropCaches()
            let snapshot = MappingSnapshot(base)
            var cached: [String: Int] = [:]
            for name in [DataFile.base.name, DataFile.overlay.name] {
                let layer = try MappedFile.map(name)
                defer { layer.unmap() }
                var residency = [UInt8](repeating: 0, count: layer.pageCount)
                try require(mincore(layer.address, layer.length, &residency) == 0, "mincore \(name)")
                cached[name] = residency.filter { $0 & 1 == 1 }.count
            }
            snapshot.verify(fixture.baseView.overlaid(fixture.data.overlay, segments),
                            label: "overlaid mapping (first touch, cold)")
            for (name, pages) in cached.sorted(by: { $0.key < $1.key }) {
                expect(pages == 0, "\(name): \(pages) of \(base.pageCount) pages in its page cache after the cold first touch (want 0)")
            }
            Log.note("layer pages cached after the cold first touch: \(cached)")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    /// base.bin mapped from file page 100 (300 pages), overlay.bin mapped
    /// from file page 16 (8 pages): a mapped page at file page p in a segment
    /// shows overlay page p, whatever either mapping's offset.
    static func fileOffsets() throws {
        try withDevice { device in
            let data = try TestData.load()
            try require(data.pageCount >= 400, "base.bin needs 400 pages")
            let base = try MappedFile.map(DataFile.base.name, firstFilePage: 100, pages: 300, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let overlay = try MappedFile.map(DataFile.overlay.name, firstFilePage: 16, pages: 8)
            defer { overlay.unmap() }
            // Segments before, across and past the mapped range.
            let segments = [90...110, 150...160, 200...200, 395...500]
            try SystemFiles.dropCaches()
            let id = try device.overlay(RawCreateRequest(base: base.address + 7 * pageSize, overlay: overlay.address + 3 * pageSize,
                                                       segments: segments))
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            verifyPages(base, view, label: "base.bin pages 100..399 overlaid")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }
}
