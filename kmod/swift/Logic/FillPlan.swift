// SPDX-License-Identifier: GPL-2.0-or-later

/// How one batch of a lower inode's page cache is filled: pages
/// `first ..< first + count`, in runs of pages one layer serves
/// (`FaultPlan`), in page order.
///
/// Each run is read with one direct I/O straight into the batch's folios
/// where its layer allows it, so a page is read once, from the layer that
/// serves it, and nothing another layer serves is read at all. The runs
/// whose direct read was refused (`readDirectly`) are then prefetched
/// together, so that their layers' reads are in flight at once, and copied
/// from their layers' page cache (`forEachRefusedRun`). So every page of
/// the batch is filled exactly once, by its own layer.
///
/// The plan borrows the segment table's storage: use it only while the
/// table is alive (the lower layers outlive every fill of their page cache).
struct FillPlan: ~Copyable {
    /// The most pages (so runs) a batch has: its folios up to 256 pages,
    /// and a last one of at most 512.
    static let maxRuns = 1024

    let first: UInt64
    let count: UInt64
    private let segments: UnsafeBufferPointer<LayerSegment>
    /// Bit i of word i / 64: run i was refused a direct read.
    private var refused = InlineArray<16, UInt64>(repeating: 0)
    private(set) var refusedCount = 0

    init(_ table: borrowing SegmentTable, first: UInt64, count: UInt64) {
        precondition(count <= UInt64(Self.maxRuns), "a fill batch is at most 1,024 pages")
        self.first = first
        self.count = count
        segments = table.segments
    }

    /// Offers every run, in page order, to `readDirectly`, which returns
    /// whether it read the run; the runs it refused are to be copied.
    mutating func readDirectly(_ readDirectly: (LayerRun) -> Bool) {
        for (index, run) in FaultPlan(segments: segments, first: first, count: count).enumerated()
        where !readDirectly(run) {
            refused[index / 64] |= 1 << UInt64(index % 64)
            refusedCount += 1
        }
    }

    private func isRefused(_ index: Int) -> Bool { refused[index / 64] >> UInt64(index % 64) & 1 == 1 }

    /// The runs whose direct read was refused, in page order.
    func forEachRefusedRun(_ body: (LayerRun) -> Void) {
        guard refusedCount > 0 else { return }
        for (index, run) in FaultPlan(segments: segments, first: first, count: count).enumerated() where isRefused(index) {
            body(run)
        }
    }
}
