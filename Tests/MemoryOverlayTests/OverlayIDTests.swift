// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage
import Testing

@Suite("OverlayID, LiveOverlay listing lines, Errno names")
struct OverlayIDTests {
    @Test func roundTripsThroughHex() throws {
        let id = try #require(OverlayID(bytes: Array(0..<16)))
        #expect(id.description == "000102030405060708090a0b0c0d0e0f")
        #expect(OverlayID(hex: id.description) == id)
        #expect(OverlayID(hex: "000102030405060708090A0B0C0D0E0F") == id)
    }

    @Test func refusesMalformedIDs() {
        #expect(OverlayID(bytes: [1, 2, 3]) == nil)
        #expect(OverlayID(hex: "00") == nil)
        #expect(OverlayID(hex: String(repeating: "g", count: 32)) == nil)
    }

    @Test func parsesAListingLine() throws {
        let line = "id=00112233445566778899aabbccddeeff pid=42 overlay=7 attached=3 segments=6 layers=2 cached_pages=141 served=18,123"
        let overlay = try #require(LiveOverlay(listingLine: line))
        #expect(overlay.id == OverlayID(hex: "00112233445566778899aabbccddeeff"))
        #expect(overlay.processID == 42)
        #expect(overlay.segmentCount == 6)
        #expect(overlay.layerCount == 2)
        #expect(overlay.overlayNumber == 7)
        #expect(overlay.attachedRequests == 3)
        #expect(overlay.cachedPages == 141)
        #expect(overlay.pagesServed == [18, 123])
        #expect(overlay.lowerNumber == nil)
        let withLower = try #require(LiveOverlay(listingLine: line + " lower=0 target=43"))
        #expect(withLower.targetProcessID == 43)
        #expect(withLower.lowerNumber == 0)
    }

    @Test func refusesIncompleteListingLines() {
        #expect(LiveOverlay(listingLine: "") == nil)
        #expect(LiveOverlay(listingLine: "id=00 pid=1") == nil)
        // served must have one count per layer
        #expect(LiveOverlay(listingLine:
            "id=00112233445566778899aabbccddeeff pid=1 overlay=1 attached=1 segments=1 layers=3 cached_pages=0 served=1,2") == nil)
    }

    @Test func namesErrnoValues() {
        #expect(Errno.noSuchFileOrDirectory.name == "ENOENT")
        #expect(Errno.fileExists.name == "EEXIST")
        #expect(Errno(rawValue: 9999).name == "errno 9999")
    }
}
