// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// Which pages of a mapping the overlay file serves: every other run of
/// `fragmentation` pages, starting with a run of base pages.
///
/// With fragmentation 1 the overlay serves every odd page (the worst case
/// for every method: as many segments as possible); with 100, runs of 100
/// pages alternate.
struct BenchLayout: Sendable, Equatable {
    /// Pages of the mapping.
    let pages: Int
    /// Length of each run of pages served by one file.
    let fragmentation: Int

    /// The layout of `pages` pages with runs of `fragmentation` pages.
    init(pages: Int, fragmentation: Int) {
        precondition(pages > 0 && fragmentation > 0)
        self.pages = pages
        self.fragmentation = fragmentation
    }

    /// The layout with exactly `segments` one-page segments: twice as many
    /// pages, every odd one from the overlay (the setup-only runs).
    init(segments: Int) {
        self.init(pages: 2 * segments, fragmentation: 1)
    }

    /// Number of segments (runs of overlay pages).
    var segmentCount: Int {
        // Runs start at fragmentation, 3 * fragmentation, ...
        let runs = (pages + fragmentation - 1) / fragmentation
        return runs / 2
    }

    /// Number of pages the overlay file serves.
    var overlayPageCount: Int {
        var count = 0
        for segment in segments { count += segment.count }
        return count
    }

    /// Whether the overlay file serves page `page`.
    func isOverlay(_ page: Int) -> Bool {
        (page / fragmentation) % 2 == 1
    }

    /// The segments, in page order.
    var segments: BenchSegments { BenchSegments(layout: self) }

    /// The segments as a request to the module.
    func segmentList() throws(SegmentError) -> SegmentList {
        try SegmentList(segments.lazy.map { $0 })
    }
}

/// The segments of a ``BenchLayout``, computed on the fly: a million of them
/// need no array.
struct BenchSegments: RandomAccessCollection, Sendable {
    let layout: BenchLayout

    var startIndex: Int { 0 }
    var endIndex: Int { layout.segmentCount }

    subscript(index: Int) -> ClosedRange<Int> {
        let first = (2 * index + 1) * layout.fragmentation
        return first...Swift.min(first + layout.fragmentation, layout.pages) - 1
    }
}

/// The runs of pages an overlay file serves, in page order: a layout's
/// segments (computed on the fly) or a list (a sparse diff's dirty runs).
struct BenchRuns: RandomAccessCollection, Sendable {
    private let layout: BenchLayout?
    private let list: [ClosedRange<Int>]

    /// The segments of `layout`.
    init(_ layout: BenchLayout) {
        self.layout = layout
        list = []
    }

    /// The runs of `list`, in page order, none touching another.
    init(_ list: [ClosedRange<Int>]) {
        layout = nil
        self.list = list
    }

    var startIndex: Int { 0 }
    var endIndex: Int { layout?.segmentCount ?? list.count }

    subscript(index: Int) -> ClosedRange<Int> {
        if let layout { BenchSegments(layout: layout)[index] } else { list[index] }
    }

    /// Pages of all the runs.
    var pageCount: Int { reduce(0) { $0 + $1.count } }
}
