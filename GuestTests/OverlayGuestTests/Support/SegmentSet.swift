// SPDX-License-Identifier: GPL-2.0-or-later

/// The pages a request's segments cover: the union of inclusive ranges of
/// file page offsets, kept sorted and merged (the module accepts unsorted
/// and overlapping segments and must show exactly their union).
struct SegmentSet {
    /// Sorted, disjoint, non-adjacent ranges.
    private(set) var ranges: [ClosedRange<Int>] = []

    init(_ segments: [ClosedRange<Int>]) {
        for segment in segments.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = ranges.last, segment.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, segment.upperBound)
            } else {
                ranges.append(segment)
            }
        }
    }

    func contains(_ page: Int) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < page {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < ranges.count && ranges[low].contains(page)
    }
}

/// The seed's page_fault example: segments {0}, {4..6}, {20}, {21},
/// {30..70}, {80..140}.
let seedSegments: [ClosedRange<Int>] = [0...0, 4...6, 20...20, 21...21, 30...70, 80...140]

/// Every other run of `run` pages, starting with the second run:
/// {run..2*run-1}, {3*run..4*run-1}, ... below `pages`.
func zebraSegments(pages: Int, run: Int) -> [ClosedRange<Int>] {
    stride(from: run, to: pages, by: 2 * run).map { $0...min($0 + run - 1, pages - 1) }
}
