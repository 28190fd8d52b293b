// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// Loading sets through the library, as a restore uses them: recorded
/// from an earlier run's touches (`LoadingSet.recordResident`), kept in a
/// loading-set file, read back and handed to `OverlayDevice.stack`, and
/// bad files refused before any request. The raw requests are
/// LoadingSetScenarios'; the tool's `record` and `restore --loading-set`
/// are vm/guest-suite's.
enum LoadingSetFileScenarios {
    static var all: [Scenario] { [
        Scenario("loading set file: recorded from a restore's touches (the touched pages, and no other but an own page the huge-page guard copies first), written and read back; a populate restore with it maps those pages, every page of the view right",
                 recordedThenRestored),
        Scenario("loading set file: truncated at every length, each byte flipped, another page size: a named error, never a trap; nothing laid (the mapping shows the base, the listing unchanged)",
                 badFilesLayNothing),
    ] }

    static let faultAroundPath = "/sys/kernel/debug/fault_around_bytes"

    /// Turns the kernel's fault-around off (a read fault maps only its own
    /// page); the setting to put back with ``restoreFaultAround(_:)``, nil
    /// when it could not be changed.
    static func turnOffFaultAround() -> String? {
        guard let before = SystemFiles.read(faultAroundPath)?.split(separator: "\n").first.map(String.init),
              (try? SystemFiles.write(faultAroundPath, "\(pageSize)")) != nil
        else { return nil }
        return before
    }

    static func restoreFaultAround(_ before: String?) {
        if let before { try? SystemFiles.write(faultAroundPath, before) }
    }

    /// The two layers over base.bin the scenarios lay: c1 and a diff, by
    /// their data extents.
    struct Chain {
        let c1: SparseLayer
        let diff: SparseLayer
        let view: ExpectedView
        var layers: [Layer] {
            [.dataExtents(of: FileDescriptor(rawValue: c1.fd)), .dataExtents(of: FileDescriptor(rawValue: diff.fd))]
        }

        init(_ data: TestData, stream: UInt32) throws {
            let pageCount = data.base.pageCount
            c1 = try SparseLayer.write(name: "lsf-c1", pages: pageCount, data: [0...299, 700...899], stream: stream)
            diff = try SparseLayer.write(name: "lsf-diff", pages: pageCount, data: [10...19, 300...309, 600...609],
                                         stream: stream + 1)
            view = ExpectedView(base: data.base).overlaid(c1.image, c1.data).overlaid(diff.image, diff.data)
        }

        func close() {
            c1.close()
            diff.close()
        }
    }

    // MARK: Record, write, read, restore

    /// An earlier run: the chain laid over base.bin, pages of every layer
    /// read (single pages, runs, the last page), the touched pages
    /// recorded from this process's pagemap (fault-around off: they are
    /// exactly the touched ones) and written to a file. The file read back
    /// is the same set; a new restore of the chain with it and populate,
    /// caches dropped, has exactly those pages mapped when the request
    /// returns, and every page of the view is right.
    static func recordedThenRestored() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pageCount = data.base.pageCount
            let chain = try Chain(data, stream: 1200)
            defer { chain.close() }
            let touched = [0, 1, 2, 15, 16, 17, 200, 305, 306, 512, 604, 640, 641, 642, 643, 899, 900, pageCount - 1]
            let wanted = try LoadingSet(pages: touched)
            let path = FilePath("lsf-recorded.ls")
            defer { unlink(path.string) }

            let faultAround = turnOffFaultAround()
            defer { restoreFaultAround(faultAround) }
            let exact = faultAround != nil
            let recorded: LoadingSet
            do {
                let earlier = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
                defer { earlier.unmap() }
                let overlay = try device.stack(base: earlier, layers: chain.layers)
                earlier.touch(touched)
                recorded = try LoadingSet.recordResident(of: earlier)
                try overlay.remove()
            }
            if exact {
                expectExactly(recorded, wanted, own: chain.diff.data, "recorded")
            } else {
                // Fault-around may map cached neighbours too.
                Log.note("fault_around_bytes not writable: the recorded set may hold neighbours of the touched pages")
                expect(wanted.pages.allSatisfy(recorded.contains), "recorded \(recorded.ranges) lacks touched pages")
            }
            try recorded.write(to: path)
            let read = try LoadingSet(contentsOf: path)
            expect(read == recorded, "read back \(read.ranges), written \(recorded.ranges)")

            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            try SystemFiles.dropCaches()
            let overlay = try device.stack(base: base, layers: chain.layers, loadingSet: read, populate: true)
            let mapped = try LoadingSet.recordResident(of: base)
            if exact {
                expectExactly(mapped, read, own: chain.diff.data, "mapped after the populate request")
            } else {
                expect(read.pages.allSatisfy(mapped.contains), "mapped after the populate request: \(mapped.ranges), the set \(read.ranges)")
            }
            verifyPages(base, chain.view, label: "view restored with the recorded loading set")
            try overlay.remove()
        }
    }

    /// `found` is `wanted`, but for own pages the module mapped first: where
    /// a fault on a lower page could map a huge page of the lower page cache
    /// (6.1's Debian kernel), it copies the first own page of the fault's
    /// 2 MiB range first, so that the range gets a page table
    /// (`OverlayFault`). At most one such page per 2 MiB of the mapping.
    static func expectExactly(_ found: LoadingSet, _ wanted: LoadingSet, own: [ClosedRange<Int>], _ what: String) {
        let missing = Array(wanted.pages.filter { !found.contains($0) })
        let extra = Array(found.pages.filter { !wanted.contains($0) })
        let ownPages = Set(own.flatMap { Array($0) })
        let hugeWindows = Set(wanted.pages.map { $0 / (2 << 20 / pageSize) }).count + 1
        expect(missing.isEmpty && extra.allSatisfy(ownPages.contains) && extra.count <= hugeWindows,
               "\(what) \(found.ranges), want \(wanted.ranges) (extra pages may only be own pages the huge-page guard copied)")
        if !extra.isEmpty { Log.note("\(what): own pages \(extra) mapped first by the huge-page guard") }
    }

    // MARK: Bad files

    /// A good file of three ranges made bad every way: cut at each length,
    /// each byte flipped, written for another page size, appended to. Each
    /// is refused with the error that names its fault (never a trap), and
    /// since the request is never made, the base mapping shows the base
    /// and the module's listing is what it was.
    static func badFilesLayNothing() throws {
        try withDevice { device in
            let data = try TestData.load()
            let chain = try Chain(data, stream: 1210)
            defer { chain.close() }
            let set = try LoadingSet([0...9, 100...199, 600...609])
            let good = set.fileBytes()
            let path = FilePath("lsf-bad.ls")
            defer { unlink(path.string) }
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let listed = try LiveOverlay.all()

            /// Writes `bytes` as the file and tries a restore with it; the
            /// error it was refused with.
            func restore(_ bytes: [UInt8]) throws -> LoadingSetFileError? {
                try write(bytes, to: path)
                let loaded: LoadingSet
                do {
                    loaded = try LoadingSet(contentsOf: path)
                } catch {
                    return error
                }
                let overlay = try device.stack(base: base, layers: chain.layers, loadingSet: loaded, populate: true)
                try overlay.remove()
                return nil
            }

            var accepted: [String] = []
            for length in 0..<good.count {
                guard let error = try restore(Array(good.prefix(length))) else { accepted.append("cut at \(length)"); continue }
                switch error {
                case .truncated, .badMagic: break
                default: Log.fail("cut at \(length) bytes: \(error), not truncated")
                }
            }
            for index in good.indices {
                var bytes = good
                bytes[index] ^= 0x40
                if try restore(bytes) == nil { accepted.append("byte \(index) flipped") }
            }
            expect(accepted.isEmpty, "bad files accepted: \(accepted.prefix(6))")
            expect(try restore(set.fileBytes(pageSize: 2 * pageSize)) == .pageSizeMismatch(file: 2 * pageSize, machine: pageSize),
                   "a file for another page size")
            expect(try restore(good + [0]) == .trailingBytes(size: good.count + 1, expected: good.count),
                   "a byte past the checksum")
            var flipped = good
            flipped[24 + 16 + 3] ^= 1
            if case .checksumMismatch = try restore(flipped) {} else { Log.fail("a flipped range byte is no checksum mismatch") }

            verifyPages(base, ExpectedView(base: data.base), label: "base mapping after the refused files")
            let after = try LiveOverlay.all()
            expect(after.map(\.id) == listed.map(\.id), "the listing changed: \(listed.count) overlays before, \(after.count) after")
        }
    }

    static func write(_ bytes: [UInt8], to path: FilePath) throws {
        let descriptor = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate],
                                                 permissions: .ownerReadWrite)
        try descriptor.closeAfter { _ = try descriptor.writeAll(bytes) }
    }
}
