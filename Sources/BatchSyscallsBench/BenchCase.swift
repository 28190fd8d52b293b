// SPDX-License-Identifier: GPL-2.0-or-later

/// One measurement to repeat: a method, a layout and a cache state.
struct BenchCase: Hashable, Sendable {
    /// What is timed.
    enum Kind: String, Sendable {
        /// Setup, then every page read, then every page written.
        case touch
        /// Setup only, with `segments` one-page segments over twice as many
        /// pages (how setup scales with the segment count).
        case setup
    }

    var kind: Kind
    var method: BenchMethod
    /// Pages of the mapping.
    var pages: Int
    /// Runs of pages served by one file (see ``BenchLayout``).
    var fragmentation: Int
    var cache: BenchCache

    /// A touch run over `pages` pages with runs of `fragmentation`.
    static func touch(_ method: BenchMethod, pages: Int, fragmentation: Int, cache: BenchCache) -> BenchCase {
        BenchCase(kind: .touch, method: method, pages: pages, fragmentation: fragmentation, cache: cache)
    }

    /// A setup-only run with `segments` segments.
    static func setup(_ method: BenchMethod, segments: Int) -> BenchCase {
        BenchCase(kind: .setup, method: method, pages: 2 * segments, fragmentation: 1, cache: .warm)
    }

    var layout: BenchLayout { BenchLayout(pages: pages, fragmentation: fragmentation) }

    /// Segments of the layout.
    var segments: Int { layout.segmentCount }

    /// For progress lines.
    var label: String {
        switch kind {
        case .touch: "\(method.rawValue) N=\(fragmentation) \(cache.rawValue)"
        case .setup: "\(method.rawValue) setup \(segments) segments"
        }
    }
}
