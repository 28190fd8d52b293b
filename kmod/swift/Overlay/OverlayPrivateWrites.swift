// SPDX-License-Identifier: GPL-2.0-or-later

/// Whether a mapping that shows an overlay holds private writes: what makes
/// a request on it EBUSY, as for any mapping, since replacing the mapping
/// would lose them.
///
/// An overlay's mapping holds private pages that are no writes: the copies
/// of its own layers' pages that reads made. So the mapping's private pages
/// are compared with what the overlay shows there (the own layer's page, or
/// the lower stack's): a private page that differs is a write. One that
/// equals it loses nothing when the mapping is replaced. A page swapped
/// out cannot be compared: while any private page of the process is
/// swapped, every private page counts as a write. Pages are looked at
/// twice, so that one in the middle of a migration (briefly unmapped) at
/// the first look is seen at the second.
enum OverlayPrivateWrites {
    static func exist(in range: MappingRange, showing overlay: OverlayHandle,
                      in mappings: borrowing MappingsReadGuard) -> Bool {
        if CurrentAddressSpace.hasSwappedPages { return true }
        let overlay = overlay.pointer
        let lowerPages = overlay.pointee.mapping
        for _ in 0..<2 {
            var address = range.start
            while address < range.end {
                let page = range.pageOffset + (address - range.start) >> pageShift
                let written = mappings.withPresentPage(at: address) { (present: borrowing PresentPage) -> Bool in
                    guard present.isAnonymous else { return false }
                    if let layer = overlay.pointee.ownLayer(forPage: page) {
                        return !overlay.pointee.withOwnFile(layer) { file in present.isSame(asPage: page, of: file) }
                    }
                    return !present.isSame(asPage: page, in: lowerPages)
                }
                if written == true { return true }
                address += 1 << pageShift
            }
        }
        return false
    }
}
