// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// What every method gets before its setup is timed: the files, the layout
/// and, for the module, the segment list. Preparing the list is the
/// caller's business (a snapshot format holds it), so no method's setup
/// time includes it.
struct BenchInput {
    let files: BenchDataFiles
    let layout: BenchLayout
    /// The runs of pages the overlay file serves: the layout's segments,
    /// or a sparse diff's dirty runs.
    let runs: BenchRuns
    /// The segments as a request to the module (nil for the other methods,
    /// which walk the runs themselves: a million-entry list takes seconds to
    /// build in an emulated guest; nil too for a sparse overlay file, whose
    /// data extents the module finds).
    let segments: SegmentList?
    /// The overlay file is sparse, holding data exactly in `runs`: the
    /// module's request names its data extents (`MEM_OVERLAY_LAYER_DATA_EXTENTS`).
    let byDataExtents: Bool
    /// Map writable (the touch runs write every page); setup-only runs map
    /// read-only, which reserves no commit charge for mappings far larger
    /// than the machine's memory.
    let writable: Bool
    /// A sparse diff's dirty pages, one flag a page: the map userfaultfd's
    /// handler serves faults from (made here, before the clock starts,
    /// as a snapshot format would hold it). nil for the layouts.
    let dirtyPages: [Bool]?

    /// The input of `method` over `layout`.
    ///
    /// - Throws: `BenchError.failed` when the layout's segments do not make
    ///   a valid request.
    init(files: BenchDataFiles, layout: BenchLayout, method: BenchMethod, writable: Bool) throws(BenchError) {
        self.files = files
        self.layout = layout
        self.writable = writable
        runs = BenchRuns(layout)
        byDataExtents = false
        dirtyPages = nil
        if method == .overlay {
            do {
                segments = try layout.segmentList()
            } catch {
                throw .failed("segments: \(error)")
            }
        } else {
            segments = nil
        }
    }

    /// The input of a view of `pages` pages whose overlay file is sparse,
    /// its data in `dirtyRuns` (the module finds them itself).
    init(files: BenchDataFiles, pages: Int, sparseRuns dirtyRuns: [ClosedRange<Int>], writable: Bool) {
        self.files = files
        layout = BenchLayout(pages: pages, fragmentation: 1)
        self.writable = writable
        runs = BenchRuns(dirtyRuns)
        segments = nil
        byDataExtents = true
        var dirty = [Bool](repeating: false, count: pages)
        for run in dirtyRuns { for page in run { dirty[page] = true } }
        dirtyPages = dirty
    }

    var protection: MappedFile.Protection { writable ? [.read, .write] : .read }
}
