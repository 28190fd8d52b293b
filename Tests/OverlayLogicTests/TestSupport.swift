// SPDX-License-Identifier: GPL-2.0-or-later
@testable import OverlayLogic
@_exported import struct SampleFiles.SplitMix64

/// Builds a table the way the create ioctl does: ranges copied into a
/// platform buffer in request order, then normalised.
func makeTable(_ ranges: [PageRange], layer: LayerIndex = 1) throws(OverlayError) -> SegmentTable {
    let buffer = try PlatformBuffer<PageRange>(capacity: ranges.count, chargedToCaller: true)
    for (index, range) in ranges.enumerated() { buffer.base[index] = range }
    return try SegmentTable(request: buffer, requested: ranges.count, layer: layer)
}

func r(_ first: UInt64, _ last: UInt64) -> PageRange { PageRange(first: first, last: last) }

func s(_ first: UInt64, _ last: UInt64, _ layer: LayerIndex) -> LayerSegment {
    LayerSegment(first: first, last: last, layer: layer)
}

/// The naive model of stacked requests: request k (from 1) serves the pages
/// it covers unless a later request covers them too; the base serves the rest.
func modelLayer(_ requests: [[PageRange]], _ page: UInt64) -> LayerIndex {
    for (index, ranges) in requests.enumerated().reversed() where ranges.contains(where: { $0.contains(page) }) {
        return LayerIndex(index + 1)
    }
    return Layers.base
}

extension SplitMix64 {
    /// A number in `0 ..< bound`.
    mutating func below(_ bound: UInt64) -> UInt64 { UInt64.random(in: 0..<bound, using: &self) }
}
