// SPDX-License-Identifier: GPL-2.0-or-later

/// Why a list of segments was refused before it reached the kernel: which
/// input was wrong, and how.
public enum SegmentError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The list is empty; a request needs at least one segment.
    case noSegments
    /// Segment `index` (counting from 0) ends before it starts.
    case endBeforeStart(index: Int, start: Int, end: Int)
    /// Segment `index` starts at a negative page.
    case negativePage(index: Int, page: Int)
    /// More segments than the module accepts in one request.
    case tooManySegments(count: Int, limit: Int)
    /// Segment `index` reaches a page above `limit`, whose byte offset no
    /// file offset can hold.
    case pageTooLarge(index: Int, page: Int, limit: Int)
    /// A byte offset that is not on a page boundary.
    case unalignedByteOffset(Int, pageSize: Int)
    /// An empty byte range: it covers no page.
    case emptyByteRange(Range<Int>)
    /// Segment `index` of a text specification is not `N` or `N-M`.
    case unreadable(index: Int, text: String)

    /// The reason in words, naming the segment (counting from 0).
    public var description: String {
        switch self {
        case .noSegments:
            "no segments: a request needs at least one"
        case .endBeforeStart(let index, let start, let end):
            "segment \(index): end \(end) before start \(start)"
        case .negativePage(let index, let page):
            "segment \(index): page \(page) is negative"
        case .tooManySegments(let count, let limit):
            "\(count) segments: at most \(limit) in one request"
        case .pageTooLarge(let index, let page, let limit):
            "segment \(index): page \(page) is past the largest page of a file (\(limit))"
        case .unalignedByteOffset(let offset, let pageSize):
            "byte offset \(offset) is not a multiple of the page size (\(pageSize))"
        case .emptyByteRange(let range):
            "byte range \(range.lowerBound)..<\(range.upperBound) is empty"
        case .unreadable(let index, let text):
            "segment \(index): '\(text)' is not a page (N) or a range of pages (N-M)"
        }
    }
}
