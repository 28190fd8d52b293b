// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The segment lists the tests lay over the seed's base files (the seed
/// programs, overlay-tests and the library's tests).
public enum SeedSegments {
    /// The seed's example request: pages {0}, {4-6}, {20}, {21}, {30-70}
    /// and {80-140} from the overlay file (108 pages; {20} and {21} touch,
    /// so the module merges them).
    public static let example = SegmentList(trusted: [0...0, 4...6, 20...20, 21...21, 30...70, 80...140])

    /// Zebra fragmentation of the first `pages` pages: runs of `run` pages
    /// alternate between the overlay and the base file. The overlay serves
    /// the first run and every other one after it (pages `0..<run`,
    /// `2*run..<3*run`, ...), or with `overlayFirst` false the second run
    /// and every other one after it (`run..<2*run`, `3*run..<4*run`, ...).
    public static func zebra(pages: Int, run: Int, overlayFirst: Bool = true) -> SegmentList {
        precondition(pages > 0 && run > 0)
        let ranges = stride(from: overlayFirst ? 0 : run, to: pages, by: 2 * run).map { start in
            start...(Swift.min(start + run, pages) - 1)
        }
        // Valid by construction: sorted, at least one, and far fewer than
        // the module's limit for any file a guest can hold.
        return SegmentList(trusted: ranges)
    }

    /// `segments` as text (`0,4-6,20-21`), for messages.
    public static func describe(_ segments: SegmentList) -> String {
        segments.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}
