// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

extension FleetScenarios {
    /// A restore's own diff of runs of 8, 20, 1, 16 and 12 pages, caches
    /// dropped, each run read page by page in order. A fault on an own page
    /// that reads it from the disk reads its run around it (up to 16
    /// pages) in the same I/O and keeps those pages for their faults, so a
    /// run costs at most 2 major faults per 16 pages (the read fault and
    /// the copy-on-write fault nested in it; one more for the mapping's
    /// first copy, whose fault may be retried), where reading page by page
    /// cost 2 per page. The run of 12 is read from its last page backwards
    /// and costs the same (the read goes around the page, back to the run's
    /// start, as a plain mapping's read-around does). Then a page kept that
    /// way whose layer is written before its fault: the fault shows the
    /// layer's new bytes, not the disk's old ones the run read.
    static func ownRunsReadAtOnce() throws {
        try withDevice { device in
            let data = try TestData.load()
            let pages = data.base.pageCount
            // 300...311 is read from its end, as a restore touching a
            // recorded cluster backwards does.
            let backwardRun = 300...311
            let runs = [10...17, 40...59, 100...100, 200...215, backwardRun]
            let diff = try SparseLayer.write(name: "fleet-runs", pages: pages, data: runs, stream: 950)
            defer { diff.close() }
            let base = try MappedFile.map(DataFile.base.name, protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let id = try device.stack(RawStackRequest(baseAddress: base.address, layers: [diff.raw()]), "v2 request")
            var view = ExpectedView(base: data.base).overlaid(diff.image, diff.data)
            // The diff's pages leave the page cache: the faults read the disk.
            try SystemFiles.dropCaches()

            var majorsInAll = 0
            var counts: [String] = []
            /// Major faults taken touching `pages` one by one, in order.
            func majorFaults(touching pages: some Sequence<Int>) -> Int {
                let before = PageResidency.majorFaults()
                base.touch(pages)
                let majors = PageResidency.majorFaults() - before
                majorsInAll += majors
                return majors
            }
            for run in runs where run != 40...59 && run != backwardRun {
                let majors = majorFaults(touching: run)
                counts.append("\(run.count) pages: \(majors)")
                // The mapping's first copy may retry under the mmap lock (its
                // anon_vma is made there), and a retried fault counts as major.
                let allowed = 2 * ((run.count + 15) / 16) + (run == runs[0] ? 1 : 0)
                expect(majors <= allowed,
                       "reading own pages \(run) one by one took \(majors) major faults, want at most \(allowed) (its run read at once)")
            }
            // Backwards: the fault on the run's last page reads the run
            // around it, not that page alone.
            let backwardMajors = majorFaults(touching: backwardRun.reversed())
            counts.append("\(backwardRun.count) pages backwards: \(backwardMajors)")
            expect(backwardMajors <= 2,
                   "reading own pages \(backwardRun) one by one from the last took \(backwardMajors) major faults, want at most 2 (its run read at once)")
            Log.note("major faults reading own runs page by page: \(counts.joined(separator: ", "))")
            // The measurement measures: the own pages came from the disk.
            expect(majorsInAll > 0, "reading 37 own pages after dropping caches took no major fault")

            // Page 40's fault reads 40...55 and keeps 41...55. The layer's
            // page 45 is then written: its fault must show the new bytes.
            base.touch([40])
            let changed = 45
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
            defer { buffer.deallocate() }
            PagePattern.seeded(stream: 951).fill(buffer, page: changed, seed: 3)
            let writable = open("/proc/self/fd/\(diff.fd)", O_RDWR | O_CLOEXEC)
            try require(writable >= 0, "reopen \(diff.name) for writing: \(Errno.current)")
            let written = pwrite(writable, buffer.baseAddress!, pageSize, off_t(changed * pageSize))
            close(writable)
            try require(written == pageSize, "write page \(changed) of \(diff.name): \(written)")
            view.write(page: changed, bytes: Array(buffer), what: "the layer's page written after its run was read")
            verifyPages(base, view, label: "own runs, one page rewritten in its layer")
            expectErrno(try device.cleanup(id), 0, "cleanup")
        }
    }
}
