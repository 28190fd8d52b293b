// SPDX-License-Identifier: GPL-2.0-or-later

/// Index of a layer of an overlay: 0 is the base file, then the overlay
/// files in the order they were laid on.
typealias LayerIndex = UInt8

enum Layers {
    /// The layer that serves every page no segment covers.
    static let base: LayerIndex = 0
    /// Layers one overlay may have (a `LayerIndex` holds 0...255).
    static let maximumCount = 256
}

/// Pages `first...last` served by layer `layer`, in 16 bytes: the layer
/// shares a word with the first page. Page offsets above `maxPage` cannot
/// exist (file offsets end at 2^63, so pages at 2^51), which leaves the top
/// byte free.
struct LayerSegment: Equatable {
    private var firstAndLayer: UInt64
    private(set) var last: UInt64

    static let pageBits: UInt64 = 56
    static let maxPage: UInt64 = (1 << pageBits) - 1

    init(first: UInt64, last: UInt64, layer: LayerIndex) {
        precondition(first <= last && last <= LayerSegment.maxPage)
        firstAndLayer = first | UInt64(layer) << LayerSegment.pageBits
        self.last = last
    }

    var first: UInt64 { firstAndLayer & LayerSegment.maxPage }
    var layer: LayerIndex { LayerIndex(truncatingIfNeeded: firstAndLayer >> LayerSegment.pageBits) }

    /// The same pages, served by `layer`.
    func served(by layer: LayerIndex) -> LayerSegment {
        LayerSegment(first: first, last: last, layer: layer)
    }

    /// The part from `first` on (which must lie in the segment).
    func starting(at first: UInt64) -> LayerSegment {
        LayerSegment(first: first, last: last, layer: layer)
    }

    /// The part up to `last` (which must lie in the segment).
    func ending(at last: UInt64) -> LayerSegment {
        LayerSegment(first: first, last: last, layer: layer)
    }
}

/// A set of layer indexes (256 bits).
struct LayerSet: Equatable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    static func == (a: LayerSet, b: LayerSet) -> Bool { a.words == b.words }

    mutating func insert(_ layer: LayerIndex) {
        let bit = UInt64(1) << UInt64(layer & 63)
        switch layer >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ layer: LayerIndex) -> Bool {
        let word: UInt64
        switch layer >> 6 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return word >> UInt64(layer & 63) & 1 == 1
    }

    var count: Int {
        words.0.nonzeroBitCount + words.1.nonzeroBitCount + words.2.nonzeroBitCount
            + words.3.nonzeroBitCount
    }
}
