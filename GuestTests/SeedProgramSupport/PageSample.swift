// SPDX-License-Identifier: GPL-2.0-or-later

/// Checks a sample of a mapping's pages against the files, read with
/// pread: for mappings too large to compare every page of in a benchmark.
public struct PageSample: Sendable {
    /// The sampled file pages, sorted.
    public let pages: [Int]

    /// About `count` pages spread over `filePages`, first and last
    /// included; neighbouring pages are taken in pairs, so that with any
    /// fragmentation the sample holds pages of both files.
    public init(of filePages: Range<Int>, count: Int) {
        var pages: Set<Int> = [filePages.lowerBound, filePages.upperBound - 1]
        let pairs = Swift.max(1, count / 2)
        for index in 0..<pairs {
            let page = filePages.lowerBound + index * filePages.count / pairs
            pages.insert(page)
            if page + 1 < filePages.upperBound { pages.insert(page + 1) }
        }
        self.pages = pages.sorted()
    }

    /// Compares the sampled pages of `mapping` with what `verifier` says
    /// they should show.
    ///
    /// - Returns: the pages that differ.
    /// - Throws: the `Errno` of reading a file.
    public func mismatches(in mapping: MappedFile, verifier: OverlayVerifier) throws(Errno) -> [Int] {
        var verifier = verifier
        verifier.mismatchLimit = pages.count
        return try verifier.verify(mapping, filePages: pages).mismatches.map(\.page)
    }
}
