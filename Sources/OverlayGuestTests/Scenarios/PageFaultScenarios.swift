// SPDX-License-Identifier: GPL-2.0-or-later
import OverlayTestData
import Glibc

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
        Scenario("page_fault: segments are file page offsets (mappings at nonzero file offsets)", fileOffsets),
    ] }

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
            let id = try device.overlay(OverlayRequest(base: base.address + 7 * pageSize, overlay: overlay.address + 3 * pageSize,
                                                       segments: segments))
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            verifyPages(base, view, label: "base.bin pages 100..399 overlaid")
            expectErrno(device.cleanup(id), 0, "cleanup")
        }
    }
}
