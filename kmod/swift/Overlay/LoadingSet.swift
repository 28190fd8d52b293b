// SPDX-License-Identifier: GPL-2.0-or-later

/// A v2 request's loading set (version 2 of the struct): the pages its
/// restore will touch first, recorded from an earlier run, as file pages of
/// the base mapping.
///
/// Once the overlay is published, `prefetch` starts reading them, each from
/// the page cache that serves it: the lower stack's (the base file's own,
/// or the lower inode's, whose fill runs in the module's fill workers) and
/// each own layer's (whose pages a fault then copies from memory). Every
/// read is of up to 2 MiB, in page order, of those pages only, and none
/// is waited for: a fault on a page still in flight waits for its folio
/// alone. `populate` then maps them, read-only, as MADV_POPULATE_READ does.
struct LoadingSet: ~Copyable {
    /// The ranges, sorted and merged (layer 1 throughout: no layer yet).
    let pages: SegmentTable
    /// Whether the request maps them before it returns.
    let populates: Bool

    /// The request's loading set, if it has one, read and checked.
    static func read(_ request: borrowing mem_overlay_stack_req) throws(OverlayError) -> LoadingSet? {
        guard try StackRequestRules.hasLoadingSet(flags: request.flags, count: request.loading_set_size) else {
            return nil
        }
        let pages = try SegmentTable.copied(from: UserPointer(request.loading_set), count: Int(request.loading_set_size))
        return LoadingSet(pages: pages, populates: request.flags & StackRequestRules.populateFlag != 0)
    }

    /// Starts reading the set's pages that lie inside the overlay.
    func prefetch(_ published: borrowing PublishedOverlay) {
        for range in pages.segments {
            published.overlay.pointer.pointee.prefetch(first: range.first, last: range.last, through: published.file)
        }
        Log.debug("loading set prefetched, ranges", Int64(pages.count))
    }

    /// Maps the set's pages that `range` maps, for reading.
    func populate(_ range: MappingRange) {
        for pages in pages.segments {
            CurrentAddressSpace.populateForReading(range, pages: pages.first...pages.last)
        }
    }
}
