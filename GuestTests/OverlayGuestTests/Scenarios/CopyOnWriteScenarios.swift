// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// A private write to an overlay page copies the overlay page, never the base page.
enum CopyOnWriteScenarios {
    static var all: [Scenario] { [
        Scenario("cow: one-byte writes to never-read pages keep the rest of the overlay (or base) page", oneByteWrites),
    ] }

    static func oneByteWrites() throws {
        try withDevice { device in
            for name in [DataFile.base.name, DataFile.overlay.name] { try DataFile.require(name) }
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let overlay = try MappedFile.map(DataFile.overlay.name)
            defer { overlay.unmap() }
            try require(base.pageCount >= 160, "base.bin needs 160 pages")
            let id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
            try SystemFiles.dropCaches()

            // The write is each page's first touch: the fault must copy the
            // page the mapping shows (overlay page 45, base page 150; page 0
            // is a one-page segment at the start, page 140 a segment's last).
            let writes: [(page: Int, offset: Int, value: UInt8)] = [(45, 100, 0x5A), (150, 7, 0xA5), (0, 0, 0x11), (140, pageSize - 1, 0x22)]
            for write in writes {
                let signal = base.write(filePage: write.page, offset: write.offset, bytes: [write.value])
                expect(signal == 0, "writing one byte to page \(write.page) raised \(signalName(signal))")
            }

            let data = try TestData.load()
            var view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
            for write in writes {
                let source = view.layer(servingPage: write.page)
                var bytes = source.bytes(ofPage: write.page)
                bytes[write.offset] = write.value
                view.write(page: write.page, bytes: bytes,
                           what: "\(source.name) page \(write.page) with byte \(write.offset) set to 0x\(hex(write.value))")
            }
            verifyPages(base, view, label: "overlaid mapping after one-byte writes")
            try data.expectFilesUnchanged("after one-byte writes")
            expectErrno(try device.cleanup(id), 0, "cleanup")
            try SystemFiles.dropCaches()
            verifyPages(base, view, label: "overlaid mapping after cleanup")
        }
    }
}
