// SPDX-License-Identifier: GPL-2.0-or-later

/// How one batch of a lower inode's page cache is filled: pages
/// `first ..< first + count`, each by the layer that serves it.
///
/// The batch's runs (`FaultPlan`: maximal stretches one layer serves) are
/// gathered per layer into pieces: a layer's runs whose gaps (pages other
/// layers serve) are at most `maxGap` pages long make one piece, read with
/// one direct I/O straight into the batch's folios, the gap pages into a
/// scratch page. A read costs far more than the pages it moves (under
/// emulation, about as much as 16 pages), so a short gap is cheaper read
/// in vain than skipped with a read of its own; a long one is skipped, so
/// no layer is read much beyond what it serves. A piece whose direct read
/// is refused has its pages copied instead (`forEachRunToCopy`), after all
/// their layers' reads were started together. Every page of the batch is
/// filled exactly once, by its own layer.
///
/// The plan borrows the segment table's storage: use it only while the
/// table is alive (the lower layers outlive every fill of their page cache).
struct FillPlan: ~Copyable {
    /// One direct read: `count` pages of `layer` from `first`, of which
    /// those whose bit is set in `served` (bit i of word i / 64: page
    /// `first + i`) are the layer's; the others go to a scratch page.
    struct Piece {
        var layer: LayerIndex
        var first: UInt64
        var count: UInt64
        /// The layer serves every page of it (one run, of any length):
        /// `served` is not used.
        var allServed = false
        var served = InlineArray<4, UInt64>(repeating: 0)

        /// Whether page `first + offset` is the layer's.
        func serves(_ offset: UInt64) -> Bool {
            allServed || served[Int(offset / 64)] >> (offset % 64) & 1 == 1
        }

        /// Whether the layer serves every page of it.
        var isWhole: Bool {
            if allServed { return true }
            for offset in 0..<count where !serves(offset) { return false }
            return true
        }

        fileprivate mutating func add(_ run: LayerRun) {
            for page in (run.first - first)..<(run.first + run.count - first) {
                served[Int(page / 64)] |= 1 << (page % 64)
            }
            count = run.first + run.count - first
        }
    }

    /// The most pages a batch has: its folios up to 256 pages, and a last
    /// one of at most 512.
    static let maxPages = 1024
    /// The longest gap a piece reads through.
    static let maxGap: UInt64 = 16
    /// The longest piece (its served bits fill 4 words).
    static let maxPieceLength: UInt64 = 256
    /// Layers whose pieces are gathered at once; the runs of more layers in
    /// one batch are pieces of their own.
    static let openPieces = 4

    let first: UInt64
    let count: UInt64
    private let segments: UnsafeBufferPointer<LayerSegment>
    /// Bit i of word i / 64: page `first + i` is to be copied.
    private var toCopy = InlineArray<16, UInt64>(repeating: 0)
    private(set) var refusedCount = 0

    init(_ table: borrowing SegmentTable, first: UInt64, count: UInt64) {
        precondition(count <= UInt64(Self.maxPages), "a fill batch is at most 1,024 pages")
        self.first = first
        self.count = count
        segments = table.segments
    }

    /// Offers every piece to `readDirectly`, which returns whether it read
    /// it; the pages of the pieces it refused are to be copied.
    mutating func readDirectly(_ readDirectly: (Piece) -> Bool) {
        var open = InlineArray<4, Piece?>(repeating: nil)
        func offer(_ piece: Piece) {
            guard !readDirectly(piece) else { return }
            refusedCount += 1
            for page in 0..<piece.count where piece.serves(page) {
                let offset = piece.first + page - first
                toCopy[Int(offset / 64)] |= 1 << (offset % 64)
            }
        }
        for run in FaultPlan(segments: segments, first: first, count: count) {
            var slot: Int?
            for index in 0..<Self.openPieces where open[index]?.layer == run.layer { slot = index }
            if let index = slot, let piece = open[index] {
                if run.first - (piece.first + piece.count) <= Self.maxGap
                    && run.first + run.count - piece.first <= Self.maxPieceLength {
                    open[index]!.add(run)
                    continue
                }
                offer(piece)
                open[index] = nil
            }
            var piece = Piece(layer: run.layer, first: run.first, count: 0)
            if run.count > Self.maxPieceLength {
                // A long run: one read of its own.
                piece.count = run.count
                piece.allServed = true
                offer(piece)
                continue
            }
            piece.add(run)
            if let free = (0..<Self.openPieces).first(where: { open[$0] == nil }) {
                open[free] = piece
            } else {
                offer(piece)
            }
        }
        for index in 0..<Self.openPieces { if let piece = open[index] { offer(piece) } }
    }

    /// The runs of the pieces whose direct read was refused, in page order.
    func forEachRunToCopy(_ body: (LayerRun) -> Void) {
        guard refusedCount > 0 else { return }
        for run in FaultPlan(segments: segments, first: first, count: count) {
            let offset = run.first - first
            if toCopy[Int(offset / 64)] >> (offset % 64) & 1 == 1 { body(run) }
        }
    }
}
