// SPDX-License-Identifier: GPL-2.0-or-later
@testable import OverlayLogic

/// A small deterministic PRNG (SplitMix64) so property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
