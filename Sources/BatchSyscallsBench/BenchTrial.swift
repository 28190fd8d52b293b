// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscallsBench
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles

/// One repetition of a case, run in a child process of its own so that its
/// VMAs and resident memory start clean and nothing it leaves behind (a
/// mapping, an overlay, a handler thread) affects the next one.
struct BenchTrial {
    let benchCase: BenchCase
    let files: BenchDataFiles

    /// Sets the method up and times it, then the touches.
    func run() throws(BenchError) -> BenchSample {
        let layout = benchCase.layout
        let input = try BenchInput(files: files, layout: layout, method: benchCase.method,
                                   writable: benchCase.kind == .touch)
        if benchCase.cache == .cold {
            do {
                try PageCache.drop()
            } catch {
                throw .skipped("cannot drop caches: \(error.name)")
            }
        }

        var sample = BenchSample()
        // Hand the heap the input was built in back first: a later trim
        // would otherwise show as memory the setup freed.
        _ = bench_malloc_trim()
        // And keep the input to the end (below): Swift may free it after
        // its last use, inside setup, which would show as negative growth.
        defer { withExtendedLifetime(input) {} }
        let memoryBefore = BenchProcessMemory.of()
        let cachedBefore = BenchSystem.memoryInfo()["Cached"]
        let start = Stopwatch.now()
        let region = try benchCase.method.setUp(input)
        sample.setupNanoseconds = Stopwatch.now() - start

        if benchCase.kind == .touch {
            let expected = BenchDataFiles.expectedChecksum(layout: layout, composed: benchCase.method.composesLayers)
            // Checked below: a sum nobody reads would let the compiler drop the loads.
            var warmupSum: UInt64?
            if benchCase.cache == .warm && benchCase.method.warmsItsView {
                // Touch the view once, untimed, then empty its page tables:
                // the timed touch faults every page in again from a warm
                // page cache (for the overlay: its own, as a second
                // process mapping the same overlay would), with the page
                // tables themselves already allocated, as for the floor.
                sample.warmupTouchNanoseconds = Stopwatch.nanoseconds {
                    warmupSum = BenchTouch.read(region.address, pages: region.pages)
                }
                guard madvise(region.address, region.length, MADV_DONTNEED) == 0 else {
                    throw .call("madvise(MADV_DONTNEED)", .current)
                }
            }
            var sum: UInt64 = 0
            sample.touchNanoseconds = Stopwatch.nanoseconds { sum = BenchTouch.read(region.address, pages: region.pages) }
            sample.contentsMatch = sum == expected && (warmupSum ?? expected) == expected
        }
        let memoryAfter = BenchProcessMemory.of()
        if let before = memoryBefore, let after = memoryAfter {
            sample.rssKiB = after.rss - before.rss
            sample.anonymousKiB = after.anonymous - before.anonymous
        }
        if benchCase.cache == .cold, let before = cachedBefore, let after = BenchSystem.memoryInfo()["Cached"] {
            sample.cacheKiB = after - before
        }
        sample.vmas = BenchProcessMemory.vmaCount(overlapping: region.address, length: region.length)
        if benchCase.kind == .touch {
            sample.writeTouchNanoseconds = Stopwatch.nanoseconds { BenchTouch.write(region.address, pages: region.pages) }
        }
        return sample
    }
}
