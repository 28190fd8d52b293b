// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// What most scenarios start from: the test data, a fresh private
/// read-write mapping of base.bin and a mapping of overlay.bin.
struct SeedFixture {
    let data: TestData
    let base: MappedFile
    let overlay: MappedFile

    init() throws {
        data = try TestData.load()
        base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
        overlay = try MappedFile.map(DataFile.overlay.name)
    }

    func unmap() {
        base.unmap()
        overlay.unmap()
    }

    var baseView: ExpectedView { ExpectedView(base: data.base) }

    /// What base.bin shows with the seed's segments of overlay.bin on it.
    var seedView: ExpectedView { baseView.overlaid(data.overlay, seedSegments) }
}

/// The seed's page_fault example (`SeedSegments.example`) as page ranges:
/// {0}, {4..6}, {20}, {21}, {30..70}, {80..140}.
let seedSegments: [ClosedRange<Int>] = SeedSegments.example.ranges
