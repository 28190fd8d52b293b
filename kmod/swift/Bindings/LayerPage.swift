// SPDX-License-Identifier: GPL-2.0-or-later

/// A page of an own layer read ahead of its fault (`struct page`, in memory
/// of its own, not in any page cache): it owns its reference, dropped on
/// deinit unless a fault takes it as its copy source (`PageFault.give`).
struct LayerPage: ~Copyable {
    fileprivate let page: OpaquePointer
    /// A flag, not `discard self`: Embedded Swift refuses `discard` in a
    /// type that is not `@frozen`.
    fileprivate var handedOver = false

    fileprivate init(adopting page: OpaquePointer) { self.page = page }

    deinit { if !handedOver { bs_page_put(page) } }

    /// The page, its reference handed to the caller (`PageFault.give`).
    consuming func handOverReference() -> OpaquePointer {
        handedOver = true
        return page
    }
}

extension KernelFile {
    /// Reads pages `first ..< first + count` (at most `LayerPage.runLimit`)
    /// with one direct I/O into pages of their own, and hands each to
    /// `body` in order; false, with nothing read, where direct I/O does not
    /// apply (no block device, a page in the page cache, past the end, an
    /// I/O that would wait for a lock).
    func readDirect(first: UInt64, count: Int, _ body: (Int, consuming LayerPage) -> Void) -> Bool {
        guard count > 0, count <= LayerPage.runLimit else { return false }
        return withUnsafeTemporaryAllocation(of: OpaquePointer?.self, capacity: count) { pages in
            guard let base = pages.baseAddress,
                  bs_layer_pages_direct(unsafeKernelPointer, first, UInt32(count), base)
            else { return false }
            // All `count` pages are set when the read succeeded.
            for index in 0..<count {
                if let page = base[index] { body(index, LayerPage(adopting: page)) }
            }
            return true
        }
    }

    /// Whether the file's page cache holds page `index` (then it may be
    /// newer than the disk).
    func cachesPage(_ index: UInt64) -> Bool { bs_file_caches_page(unsafeKernelPointer, index) }
}

extension LayerPage {
    /// The most pages one read of a run takes.
    static var runLimit: Int { Int(BS_OWN_RUN_PAGES) }
}
