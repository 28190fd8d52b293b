// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import MemoryOverlay

/// Segments in the ABI's layout (`struct mem_overlay_segment_req`: first and
/// last page, 16 bytes each), exactly as a create request hands them to the
/// kernel, and unchecked: an end below its start, any count. The tests send
/// what the safe ``MemoryOverlay/SegmentList`` refuses to hold: the kernel's
/// own checks are what they test.
public struct RawSegments: Sendable {
    /// The size of one segment in memory (16 bytes on x86-64).
    public static let stride = MemoryLayout<mem_overlay_segment_req>.stride

    /// The segments as the kernel reads them.
    @usableFromInline let elements: [mem_overlay_segment_req]

    // The initialisers from sequences are inlinable so that they are
    // specialised for the caller's sequence: a million segments built
    // through an unspecialised generic take seconds under TCG.

    /// Segments from (first page, last page) pairs, as they are. A lazy
    /// sequence is written straight into the ABI's layout (a million
    /// segments are 16 MB: no second copy).
    @inlinable
    public init(pairs: some Sequence<(start: UInt, end: UInt)>) {
        elements = pairs.map { mem_overlay_segment_req(start_pgoff: $0.start, end_pgoff: $0.end) }
    }

    /// Segments from page ranges (pages must not be negative).
    @inlinable
    public init(ranges: some Sequence<ClosedRange<Int>>) {
        elements = ranges.map { mem_overlay_segment_req(start_pgoff: UInt($0.lowerBound), end_pgoff: UInt($0.upperBound)) }
    }

    /// The segments of `list`.
    public init(_ list: SegmentList) {
        self.init(ranges: list.ranges)
    }

    /// How many segments there are.
    public var count: Int { elements.count }

    /// The segments as (first page, last page) pairs.
    public var pairs: [(start: UInt, end: UInt)] {
        elements.map { ($0.start_pgoff, $0.end_pgoff) }
    }

    /// The segments as an array of the ABI's structs.
    var array: [mem_overlay_segment_req] { elements }

    /// Calls `body` with the address of the first segment (nil when there
    /// is none); the address is valid only during the call.
    public func withUnsafeAddress<Result>(_ body: (UnsafeRawPointer?) -> Result) -> Result {
        // The kernel only reads the segments: no mutable copy is needed.
        elements.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress)) }
    }

    /// Writes `pairs` at `address` in the ABI's layout: segments placed by
    /// hand (at the end of a readable page before a `PROT_NONE` one, say).
    public static func store(_ pairs: [(start: UInt, end: UInt)], at address: UnsafeMutableRawPointer) {
        let segments = address.bindMemory(to: mem_overlay_segment_req.self, capacity: pairs.count)
        for (index, pair) in pairs.enumerated() {
            segments[index] = mem_overlay_segment_req(start_pgoff: pair.start, end_pgoff: pair.end)
        }
    }
}
