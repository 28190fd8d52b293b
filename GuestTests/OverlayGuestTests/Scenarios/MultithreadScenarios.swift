// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import Synchronization

/// First touch from any thread; concurrent requests.
enum MultithreadScenarios {
    static let threadCount = 16

    static var all: [Scenario] { [
        Scenario("multithread: 16 threads first-touch one overlaid mapping in different orders", concurrentFirstTouch),
        Scenario("multithread: 16 threads each create, verify and clean up their own overlay", concurrentRequests),
    ] }

    /// A walk over `count` pages: start at `start`, step by a stride coprime
    /// to `count`; odd threads walk backwards.
    static func walk(count: Int, thread: Int) -> [Int] {
        var stride = 2 * thread + 1
        while gcd(stride, count) != 1 { stride += 2 }
        let start = (thread * 61) % count
        let order = (0..<count).map { (start + $0 * stride) % count }
        return thread % 2 == 1 ? order.reversed() : order
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    static func concurrentFirstTouch() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (data, base, overlay) = (fixture.data, fixture.base, fixture.overlay)
            // Many small segments, so that neighbouring pages come from
            // different layers and fault-around/readahead cross layers.
            let segments = seedSegments + SeedSegments.zebra(pages: base.pageCount, run: 3, overlayFirst: false).ranges.filter { $0.lowerBound > 160 }
            let id = try device.overlay(base: base, overlay: overlay, segments: segments)
            try SystemFiles.dropCaches()
            let view = ExpectedView(base: data.base).overlaid(data.overlay, segments)
            let pageCount = base.pageCount
            let firstPage = base.firstFilePage
            try ThreadGroup.run(threadCount) { member in
                let thread = member.index
                let verifier = PageVerifier("thread \(thread)", view: view)
                for index in walk(count: pageCount, thread: thread) {
                    verifier.check(base, filePage: firstPage + index)
                }
                verifier.finish()
            }
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }

    static func concurrentRequests() throws {
        try withDevice { device in
            let data = try TestData.load()
            let ids = Locked<[Int: OverlayID]>([:])
            try ThreadGroup.run(threadCount) { member in
                let thread = member.index
                do {
                    // Vary the files and segments per thread.
                    let (basePath, baseImage) = thread % 2 == 0 ? (DataFile.base.name, data.base) : (DataFile.base2.name, data.base2)
                    let (overlayPath, overlayImage) = thread % 3 == 0 ? (DataFile.zebra.name, data.zebra) : (DataFile.overlay.name, data.overlay)
                    let base = try MappedFile.map(basePath, protection: PROT_READ | PROT_WRITE)
                    defer { base.unmap() }
                    let overlay = try MappedFile.map(overlayPath)
                    defer { overlay.unmap() }
                    let segments = SeedSegments.zebra(pages: base.pageCount, run: thread + 1, overlayFirst: false).ranges
                    let id = try device.overlay(base: base, overlay: overlay, segments: segments)
                    ids.withLock { $0[thread] = id }
                    let view = ExpectedView(base: baseImage).overlaid(overlayImage, segments)
                    verifyPages(base, view, label: "thread \(thread): \(overlayPath) over \(basePath)")
                    expectErrno(try device.cleanup(id), 0, "thread \(thread): cleanup")
                    verifyPages(base, view, label: "thread \(thread): after cleanup")
                } catch {
                    Log.fail("thread \(thread): \(error)")
                }
            }
            let all = ids.withLock { $0 }
            expect(all.count == threadCount, "only \(all.count) of \(threadCount) requests succeeded")
            let distinct = Set(all.values.map(\.description))
            expect(distinct.count == all.count, "ids are not unique: \(all.values.map(\.description).sorted())")
            expect(!all.values.contains(OverlayID.zero), "a request returned an all-zero id")
        }
    }
}
