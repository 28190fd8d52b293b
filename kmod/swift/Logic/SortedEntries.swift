// SPDX-License-Identifier: GPL-2.0-or-later

/// Entries kept sorted by a key, in memory from `platformAllocate`: lookups
/// are binary searches, inserts and removals move the tail (fine for the
/// thousands of entries a host has). Equal keys are allowed; an insert puts
/// an entry after those with its key. The storage of the module's id
/// registry and of its index of shareable overlays. Callers serialise
/// access; inserts may allocate, so the lock must be a sleeping one.
struct SortedEntries<Entry: SortedEntry>: ~Copyable {
    private var entries: UnsafeMutablePointer<Entry>? = nil
    private var capacity = 0
    private(set) var count = 0

    init() {}

    deinit {
        entries?.deinitialize(count: count)
        if let entries { platformFree(UnsafeMutableRawPointer(entries)) }
    }

    subscript(position: Int) -> Entry {
        get { entries![position] }
        set { entries![position] = newValue }
    }

    /// Position of the first entry whose key is not below `wanted`.
    func lowerBound(of wanted: Entry.SortKey) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = Int(bitPattern: UInt(bitPattern: low &+ high) >> 1)
            if entries![middle].sortKey < wanted { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The positions of the entries whose key is `wanted`.
    func positions(of wanted: Entry.SortKey) -> Range<Int> {
        let first = lowerBound(of: wanted)
        var end = first
        while end < count && entries![end].sortKey == wanted { end += 1 }
        return first..<end
    }

    /// Inserts `entry` after the entries with its key; `.outOfMemory` (and
    /// nothing changed) when growing fails.
    mutating func insert(_ entry: Entry) throws(OverlayError) {
        let position = positions(of: entry.sortKey).upperBound
        try reserveRoom()
        let base = entries!
        (base + position + 1).moveInitialize(from: base + position, count: count - position)
        (base + position).initialize(to: entry)
        count += 1
    }

    mutating func remove(at position: Int) {
        let base = entries!
        (base + position).deinitialize(count: 1)
        (base + position).moveInitialize(from: base + position + 1, count: count - position - 1)
        count -= 1
    }

    /// Makes room for one more entry, doubling the storage when full.
    private mutating func reserveRoom() throws(OverlayError) {
        guard count == capacity else { return }
        let grownCapacity = capacity == 0 ? 16 : capacity * 2
        let (bytes, overflow) = grownCapacity.multipliedReportingOverflow(by: MemoryLayout<Entry>.stride)
        guard !overflow, let raw = platformAllocate(byteCount: bytes, chargedToCaller: false) else {
            throw .outOfMemory
        }
        let grown = raw.bindMemory(to: Entry.self, capacity: grownCapacity)
        if let old = entries {
            grown.moveInitialize(from: old, count: count)
            platformFree(UnsafeMutableRawPointer(old))
        }
        entries = grown
        capacity = grownCapacity
    }
}

/// An entry of `SortedEntries`: what it is sorted by.
protocol SortedEntry {
    associatedtype SortKey: Comparable
    var sortKey: SortKey { get }
}
