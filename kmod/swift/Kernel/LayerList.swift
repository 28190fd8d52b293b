// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// The files an overlay reads, by layer index (0 is the base), each with a
/// count of the pages it has filled into the overlay's page cache.
struct LayerList: ~Copyable {
    private struct Entry: ~Copyable {
        let file: LayerFile
        let pagesServed = Atomic<UInt64>(0)
    }

    private let entries: UnsafeMutablePointer<Entry>
    private let capacity: Int
    /// Number of layers.
    private(set) var count = 0

    init(capacity: Int) throws(OverlayError) {
        let bytes = capacity * MemoryLayout<Entry>.stride
        guard let raw = platformAllocate(byteCount: bytes, chargedToCaller: true) else { throw .outOfMemory }
        entries = raw.bindMemory(to: Entry.self, capacity: capacity)
        self.capacity = capacity
    }

    deinit {
        entries.deinitialize(count: count)
        platformFree(UnsafeMutableRawPointer(entries))
    }

    /// Adds the next layer.
    mutating func append(_ file: consuming LayerFile) {
        precondition(count < capacity)
        (entries + count).initialize(to: Entry(file: file))
        count += 1
    }

    /// The file that serves `layer`.
    func file(_ layer: LayerIndex) -> OpaquePointer { entries[Int(layer)].file.file }

    /// Whether another layer fits.
    var isFull: Bool { count == capacity }

    /// The layer that reads `file`'s inode, if one does: layers are files
    /// by identity, not by open file description (two descriptors of one
    /// file share its page cache).
    func index(ofSameFileAs file: OpaquePointer) -> Int? {
        let inode = bs_file_inode(file)
        for layer in 0..<count where bs_file_inode(entries[layer].file.file) == inode { return layer }
        return nil
    }

    /// Counts `pages` filled from `layer`.
    func recordServed(_ pages: UInt64, from layer: LayerIndex) {
        entries[Int(layer)].pagesServed.add(pages, ordering: .relaxed)
    }

    /// Pages filled from `layer` so far.
    func pagesServed(by layer: LayerIndex) -> UInt64 {
        entries[Int(layer)].pagesServed.load(ordering: .relaxed)
    }
}
