// SPDX-License-Identifier: GPL-2.0-or-later
import Synchronization

/// Where touched bytes go, so that the compiler cannot drop the reads.
private let touchSink = Atomic<UInt8>(0)

extension MappedFile {
    /// Reads one byte of every page, first to last. A page not mapped yet
    /// takes its first fault here: what "touching" a mapping means in the
    /// seed's tests and benchmarks.
    public func touchEveryPage() {
        touchPages(stride(from: 0, to: pageCount, by: 1))
    }

    /// Reads one byte of each page at index `pages` (counting from the
    /// mapping's first page).
    public func touchPages(_ pages: some Sequence<Int>) {
        let bytes = UnsafeRawPointer(address)
        let pageSize = MemoryPage.size
        var sum: UInt8 = 0
        for page in pages {
            sum &+= bytes.load(fromByteOffset: page * pageSize, as: UInt8.self)
        }
        touchSink.store(sum, ordering: .relaxed)
    }
}
