// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// The files an overlay reads, by layer index (0 is the base), each with a
/// count of the pages it has filled into the overlay's page cache and the
/// file's stamp when it was added.
struct LayerList: ~Copyable {
    private struct Entry: ~Copyable {
        let file: LayerFile
        let stamp: bs_layer_stamp
        let pagesServed = Atomic<UInt64>(0)

        init(file: consuming LayerFile) {
            var stamp = bs_layer_stamp()
            bs_file_stamp(file.file, &stamp)
            self.stamp = stamp
            self.file = file
        }
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

    /// Whether every layer file is as it was when it was added and open
    /// for writing nowhere: then the overlay's page cache holds what a new
    /// overlay of the same files would read, and it may be shared.
    var isUnchangedAndUnwritten: Bool {
        for layer in 0..<count {
            let file = entries[layer].file.file
            var now = bs_layer_stamp()
            bs_file_stamp(file, &now)
            guard now.isSame(as: entries[layer].stamp), !bs_file_has_writers(file) else { return false }
        }
        return true
    }

    /// Adds the layers' identities (their inodes) to `fingerprint`.
    func fingerprint(into fingerprint: inout StackFingerprint) {
        for layer in 0..<count {
            fingerprint.combine(UInt64(UInt(bitPattern: bs_file_inode(entries[layer].file.file))))
        }
    }

    /// Whether `other` reads the same files (inodes) in the same order.
    func hasSameFiles(as other: borrowing LayerList) -> Bool {
        guard count == other.count else { return false }
        for layer in 0..<count
        where bs_file_inode(entries[layer].file.file) != bs_file_inode(other.entries[layer].file.file) {
            return false
        }
        return true
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

extension bs_layer_stamp {
    func isSame(as other: bs_layer_stamp) -> Bool {
        size == other.size && ctime_sec == other.ctime_sec && ctime_nsec == other.ctime_nsec
            && mtime_sec == other.mtime_sec && mtime_nsec == other.mtime_nsec && version == other.version
    }
}
