// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// What every method gets before its setup is timed: the files, the layout
/// and, for the module, the segment list. Preparing the list is the
/// caller's business (a snapshot format holds it), so no method's setup
/// time includes it.
struct BenchInput {
    let files: BenchDataFiles
    let layout: BenchLayout
    /// The segments as a request to the module (nil for the other methods,
    /// which walk the layout itself: a million-entry list takes seconds to
    /// build in an emulated guest).
    let segments: SegmentList?
    /// Map writable (the touch runs write every page); setup-only runs map
    /// read-only, which reserves no commit charge for mappings far larger
    /// than the machine's memory.
    let writable: Bool

    /// The input of `method` over `layout`.
    ///
    /// - Throws: `BenchError.failed` when the layout's segments do not make
    ///   a valid request.
    init(files: BenchDataFiles, layout: BenchLayout, method: BenchMethod, writable: Bool) throws(BenchError) {
        self.files = files
        self.layout = layout
        self.writable = writable
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

    var protection: MappedFile.Protection { writable ? [.read, .write] : .read }
}
