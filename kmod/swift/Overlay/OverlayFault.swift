// SPDX-License-Identifier: GPL-2.0-or-later

/// Faults on an overlay's mapping, page by page: a page of the lower stack is
/// the lower page cache's page, mapped as any file page (filemap_fault, and
/// filemap_map_pages for fault-around); a page an own layer serves becomes
/// a private copy of the own layer's page.
///
/// The copy goes through the kernel's own copy-on-write path: a read fault
/// on an own page makes a nested write fault there (`PageFault.copy`),
/// whose ->fault, like a write fault's on any own page, gives the own
/// layer's page as the source (`PageFault.giveSource`). The kernel copies
/// it into a new anonymous page and maps that: the page has the anonymous
/// reverse map, sits on the LRU, and migration, reclaim (to swap), KSM,
/// fork and memory failure treat it as any private copy. Never is a page
/// of another file's page cache mapped here.
enum OverlayFault {
    /// ->fault: `write` is a write (copy-on-write) fault.
    static func fault(_ overlay: OverlayHandle, attachment: AttachmentHandle?, _ fault: borrowing PageFault,
                      page: UInt64, write: Bool) -> FaultResult {
        let overlay = overlay.pointer
        if let layer = overlay.pointee.ownLayer(forPage: page) {
            if write {
                let source = OwnPageSource.give(overlay, layer: layer, page: page, to: fault)
                if !source.endsFault { attachment?.pointer.pointee.recordCopy(of: Int(layer) - 1) }
                Log.trace("own page copied from layer", Int64(layer))
                return source
            }
            Log.trace("read of an own page: a copy-on-write fault")
            return fault.copy(at: fault.address)
        }
        if !write, let guardPage = hugePageGuard(overlay, fault, page: page) {
            // An own page of this huge-page range first: its page table then
            // exists, and the lower page is mapped by a PTE, not a PMD.
            let copied = fault.copy(at: guardPage)
            Log.trace("own page copied first in a huge-page range")
            if copied.endsFault { return copied }
        }
        return fault.faultLower()
    }

    /// ->map_pages (fault-around, under RCU): the lower stack's pages
    /// `first...last` that are ready, around the own pages. Nothing where an
    /// own page shares the huge-page range and a PMD mapping could happen.
    static func mapPages(_ overlay: OverlayHandle, _ fault: borrowing PageFault, first: UInt64, last: UInt64) -> FaultResult {
        let overlay = overlay.pointer
        guard overlay.pointee.hasOwnPages else { return fault.mapLower(first, last) }
        if fault.mayMapHugePage && hugeRange(of: fault, in: overlay).map({ overlay.pointee.own.covers($0) }) == true {
            return .none
        }
        var result = FaultResult.none
        overlay.pointee.own.forEachGap(first, last) { gapFirst, gapLast in
            result = result.combined(with: fault.mapLower(gapFirst, gapLast))
        }
        return result
    }

    /// For a fault on a lower page: an own page in the fault's huge-page
    /// range, when a PMD could map a huge folio of the lower page cache over
    /// it (no page table there yet, and huge pages not refused).
    private static func hugePageGuard(_ overlay: UnsafeMutablePointer<Overlay>, _ fault: borrowing PageFault,
                                      page: UInt64) -> UInt64? {
        // An own page past its layer's end cannot be copied (its copy
        // raises SIGBUS, which must not fail this fault on a lower page):
        // the first own page inside its layer is the guard. Where there is
        // none, a huge page may show the lower stack over pages that would
        // raise SIGBUS; every own page that has data stays right.
        guard overlay.pointee.hasOwnPages, fault.mayMapHugePage, let range = hugeRange(of: fault, in: overlay),
              let ownPage = overlay.pointee.own.firstCoveredPage(in: range, insideLayer: { layer in
                  overlay.pointee.withOwnFile(layer) { file in pageCount(ofFileBytes: file.info.size) }
              })
        else { return nil }
        let span = fault.mapping
        return span.start + (ownPage - span.pageOffset) << pageShift
    }

    /// The file pages of the fault's 2 MiB-aligned range, inside the VMA.
    private static func hugeRange(of fault: borrowing PageFault,
                                  in overlay: UnsafeMutablePointer<Overlay>) -> ClosedRange<UInt64>? {
        let span = fault.mapping
        let hugeSize: UInt64 = 2 << 20
        let start = Swift.max(fault.address & ~(hugeSize - 1), span.start)
        let end = Swift.min((fault.address & ~(hugeSize - 1)) + hugeSize, span.end)
        guard start < end else { return nil }
        let first = span.pageOffset + (start - span.start) >> pageShift
        return first...(first + ((end - start) >> pageShift) - 1)
    }
}
