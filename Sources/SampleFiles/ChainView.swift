// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The model of a snapshot chain: which layer serves each page of a base
/// file with layers laid over it, lowest first. Layer 0 is the base file;
/// layer `i` (from 1) is the chain's `i`-th layer, which serves the pages
/// of its set unless a higher layer serves them too.
public struct ChainView: Sendable {
    /// Pages of the view: the base file's (its last partial page included).
    public let pageCount: Int
    /// The pages each layer serves before higher layers cover them, lowest
    /// first (the base, layer 0, is not among them).
    public let layers: [PageSet]

    /// The chain of `layers` over a base file of `basePages` pages.
    public init(basePages: Int, layers: [PageSet]) {
        pageCount = basePages
        self.layers = layers
    }

    /// The layer that serves `page`: the topmost one whose set holds it,
    /// else 0 (the base file).
    public func servingLayer(ofPage page: Int) -> Int {
        for index in layers.indices.reversed() where layers[index].contains(page) { return index + 1 }
        return 0
    }

    /// Every page's serving layer, in page order.
    public var servingLayers: [Int] {
        // One pass per layer over its ranges, lowest first: a higher layer
        // overwrites what it covers.
        var serving = [Int](repeating: 0, count: pageCount)
        for (index, set) in layers.enumerated() {
            for range in set.ranges where range.lowerBound < pageCount {
                for page in range.lowerBound...Swift.min(range.upperBound, pageCount - 1) { serving[page] = index + 1 }
            }
        }
        return serving
    }

    /// The view as runs of pages served by one layer, in page order.
    public var runs: [(pages: Range<Int>, layer: Int)] {
        var result: [(pages: Range<Int>, layer: Int)] = []
        for (page, layer) in servingLayers.enumerated() {
            if let last = result.last, last.layer == layer {
                result[result.count - 1].pages = last.pages.lowerBound..<(page + 1)
            } else {
                result.append((page..<(page + 1), layer))
            }
        }
        return result
    }

    /// Pages each layer serves in the view, base (index 0) first.
    public var pagesServed: [Int] {
        var counts = [Int](repeating: 0, count: layers.count + 1)
        for layer in servingLayers { counts[layer] += 1 }
        return counts
    }
}
