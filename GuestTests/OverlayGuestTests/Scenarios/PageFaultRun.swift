// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// The seed's page_fault example: base.bin mapped MAP_PRIVATE read-write,
/// two more mappings of base.bin (private and shared, read-only), overlay.bin
/// mapped read-only; the seed's segments; every page checked; private writes
/// to page 5 (inside {4..6}) and page 10 (outside); files unchanged; cleanup.
struct PageFaultRun {
    enum Caches {
        /// The files are read (cached) before the request.
        case warm
        /// sync and drop_caches right after the request; the mapping is
        /// touched before the files are read.
        case droppedAfterRequest
        /// drop_caches before the request, nothing read before the first touch.
        case droppedBeforeRequest
    }

    let caches: Caches

    func run(_ device: OverlayDevice) throws {
        let warmData = caches == .warm ? try TestData.load() : nil
        for name in [DataFile.base.name, DataFile.overlay.name] { try DataFile.require(name) }
        let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE)
        defer { base.unmap() }
        let secondPrivate = try MappedFile.map(DataFile.base.name, name: "second private mapping of base.bin")
        defer { secondPrivate.unmap() }
        let secondShared = try MappedFile.map(DataFile.base.name, name: "shared mapping of base.bin", flags: MAP_SHARED)
        defer { secondShared.unmap() }
        let overlay = try MappedFile.map(DataFile.overlay.name)
        defer { overlay.unmap() }
        try require(base.pageCount >= 160, "base.bin has \(base.pageCount) pages, the example needs 160")

        if caches == .droppedBeforeRequest { try SystemFiles.dropCaches() }
        // Any address inside a mapping names it: use inner addresses.
        let id = try device.overlay(RawCreateRequest(base: base.innerAddress, overlay: overlay.innerAddress,
                                                   segments: seedSegments), "seed request")
        if caches == .droppedAfterRequest { try SystemFiles.dropCaches() }

        // First touch of every page, before the expected data is read.
        let snapshot = MappingSnapshot(base)
        let data = try warmData ?? TestData.load()
        var view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
        snapshot.verify(view, label: "overlaid mapping (first touch)")
        let plainBase = ExpectedView(base: data.base)
        verifyPages(secondPrivate, plainBase, label: secondPrivate.name)
        verifyPages(secondShared, plainBase, label: secondShared.name)

        // Private writes: page 5 inside {4..6}, page 10 outside any segment.
        var generator = freshGenerator()
        for page in [5, 10] {
            let bytes = generator.page()
            let signal = base.write(filePage: page, bytes: bytes)
            expect(signal == 0, "writing page \(page) raised \(signalName(signal))")
            view.write(page: page, bytes: bytes, what: "the data written to page \(page)")
        }
        verifyPages(base, view, label: "overlaid mapping after writing pages 5 and 10")
        verifyPages(secondPrivate, plainBase, label: "\(secondPrivate.name) after the writes")
        verifyPages(secondShared, plainBase, label: "\(secondShared.name) after the writes")

        if caches != .warm { try SystemFiles.dropCaches() }
        try data.expectFilesUnchanged("after the writes")

        expectErrno(try device.cleanup(id), 0, "cleanup")
        // The mapping keeps showing the overlay after cleanup (re-read from
        // the layers when the caches were dropped).
        if caches != .warm { try SystemFiles.dropCaches() }
        verifyPages(base, view, label: "overlaid mapping after cleanup")
        try data.expectFilesUnchanged("after cleanup")
    }
}

/// Sets /sys/kernel/debug/fault_around_bytes for the duration of `body`
/// (mounting debugfs if needed); skips without it.
func withFaultAroundBytes(_ bytes: Int, _ body: () throws -> Void) throws {
    let path = "/sys/kernel/debug/fault_around_bytes"
    if !SystemFiles.exists(path) { _ = SystemFiles.ensureMounted("debugfs", at: "/sys/kernel/debug") }
    try withSetting(path, String(bytes), skipReason: "no \(path) (debugfs)", body)
}

/// Sets the test disk's (/dev/vda's) read_ahead_kb for the duration of
/// `body`; skips without it.
func withTestDiskReadahead(kib: Int, _ body: () throws -> Void) throws {
    try withSetting("/sys/block/vda/queue/read_ahead_kb", String(kib), body)
}

/// Writes `value` to the kernel setting at `path`, checks that it reads
/// back, runs `body` and restores the old value; skips (with
/// `skipReason`, or "no PATH") when `path` cannot be read.
private func withSetting(_ path: String, _ value: String, skipReason: String? = nil,
                         _ body: () throws -> Void) throws {
    guard let old = SystemFiles.read(path)?.split(separator: "\n").first.map(String.init) else {
        throw SkipScenario(skipReason ?? "no \(path)")
    }
    try SystemFiles.write(path, value)
    defer {
        do {
            try SystemFiles.write(path, old)
        } catch {
            Log.fail("could not restore \(path) to \(old): \(error)")
        }
    }
    let now = SystemFiles.read(path)?.split(separator: "\n").first.map(String.init)
    try require(now == value, "\(path) reads \(now ?? "nothing") after writing \(value)")
    try body()
}
