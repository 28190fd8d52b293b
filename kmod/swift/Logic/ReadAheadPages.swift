// SPDX-License-Identifier: GPL-2.0-or-later

/// Pages of an overlay's own layers read ahead of their faults: a fault on
/// an own page that must read it from the disk reads the rest of its run in
/// the same I/O (one read per run, not one per page), and keeps the pages
/// here until their own faults take them as their copy source.
///
/// A small ring: at most `capacity` pages, the oldest dropped when a new one
/// needs room (a page nobody faults on costs memory only until then). An
/// entry remembers its layer file's `Stamp` when it was read, and a take
/// under another stamp drops it: the file changed since (a write, a
/// truncation), so the disk's old bytes must not become the copy.
///
/// Generic over the page (the kernel's owns a page reference; the host
/// tests' counts releases), so the rules are host-tested.
struct ReadAheadPages<Page: ~Copyable, Stamp: Equatable>: ~Copyable {
    /// Which page a slot holds; `pages[slot]` is initialized exactly where
    /// `keys[slot]` is not nil.
    private struct Key {
        let layer: LayerIndex
        let index: UInt64
        let stamp: Stamp
    }

    private let keys: UnsafeMutablePointer<Key?>
    private let pages: UnsafeMutablePointer<Page>
    let capacity: Int
    /// Where the next insert goes (the oldest entry, when full).
    private var next = 0
    /// The own page faulted on last: which way the touching goes, as a
    /// plain file's readahead remembers its previous position.
    var lastFault: (layer: LayerIndex, index: UInt64)? = nil

    init(capacity: Int) throws(OverlayError) {
        precondition(capacity > 0)
        // Not charged to the caller: the overlay owns it for its lifetime.
        guard let rawKeys = platformAllocate(byteCount: capacity * MemoryLayout<Key?>.stride, chargedToCaller: false)
        else { throw .outOfMemory }
        guard let rawPages = platformAllocate(byteCount: capacity * MemoryLayout<Page>.stride, chargedToCaller: false)
        else {
            platformFree(rawKeys)
            throw .outOfMemory
        }
        keys = rawKeys.bindMemory(to: Key?.self, capacity: capacity)
        keys.initialize(repeating: nil, count: capacity)
        pages = rawPages.bindMemory(to: Page.self, capacity: capacity)
        self.capacity = capacity
    }

    deinit {
        for slot in 0..<capacity where keys[slot] != nil { (pages + slot).deinitialize(count: 1) }
        keys.deinitialize(count: capacity)
        platformFree(UnsafeMutableRawPointer(keys))
        platformFree(UnsafeMutableRawPointer(pages))
    }

    /// Pages held.
    var count: Int {
        var count = 0
        for slot in 0..<capacity where keys[slot] != nil { count += 1 }
        return count
    }

    /// Whether page `index` of own layer `layer` is held (whatever its stamp).
    func holds(layer: LayerIndex, index: UInt64) -> Bool { slot(layer: layer, index: index) != nil }

    /// Keeps `page` as page `index` of `layer`, read when the file had
    /// `stamp`; replaces an entry of the same page, else the oldest when full.
    mutating func insert(layer: LayerIndex, index: UInt64, stamp: Stamp, page: consuming Page) {
        let target: Int
        if let existing = slot(layer: layer, index: index) {
            target = existing
        } else {
            target = next
            next = (next + 1) % capacity
        }
        if keys[target] != nil { (pages + target).deinitialize(count: 1) }
        (pages + target).initialize(to: page)
        keys[target] = Key(layer: layer, index: index, stamp: stamp)
    }

    /// Takes page `index` of `layer` out if it is held and was read under
    /// `stamp`; an entry read under another stamp is dropped (nil).
    mutating func take(layer: LayerIndex, index: UInt64, stamp: Stamp) -> Page? {
        guard let slot = slot(layer: layer, index: index), let key = keys[slot] else { return nil }
        keys[slot] = nil
        let page = (pages + slot).move()
        guard key.stamp == stamp else { return nil }
        return page
    }

    private func slot(layer: LayerIndex, index: UInt64) -> Int? {
        for slot in 0..<capacity {
            if let key = keys[slot], key.layer == layer, key.index == index { return slot }
        }
        return nil
    }
}
