// SPDX-License-Identifier: GPL-2.0-or-later

/// The live overlay ids: which overlay an id names and which process may
/// clean it up.
///
/// An entry lives from a successful create request until the cleanup request
/// or until the overlay's last mapping goes away, whichever comes first. The
/// registry never keeps an overlay alive: `handle` is the overlay's address
/// as an opaque token, removed by the overlay's release before it is freed.
/// Callers serialise access (a mutex in the kernel); operations may allocate,
/// so the lock must be a sleeping one.
///
/// Entries are kept sorted by id: lookups are binary searches, inserts and
/// removals move the tail (fine for the thousands of overlays a host has).
struct OverlayRegistry: ~Copyable {
    struct Entry {
        var id: OverlayID
        var owner: OwnerToken
        var handle: UnsafeMutableRawPointer
    }

    /// Sorted entries; the buffer comes from `platformAllocate`.
    private var entries: UnsafeMutablePointer<Entry>? = nil
    private var capacity = 0
    private(set) var count = 0

    init() {}

    deinit {
        if let entries { platformFree(UnsafeMutableRawPointer(entries)) }
    }

    /// Adds `entry`. Throws `.alreadyOverlaid` if the id is taken (the
    /// caller draws a new random id) and `.outOfMemory` if growing fails;
    /// the registry is unchanged in both cases.
    mutating func insert(_ entry: Entry) throws(OverlayError) {
        let position = lowerBound(of: entry.id)
        if position < count && entries![position].id == entry.id {
            throw .alreadyOverlaid
        }
        try reserveRoom()
        let base = entries!
        (base + position + 1).moveInitialize(from: base + position, count: count - position)
        (base + position).initialize(to: entry)
        count += 1
    }

    /// Removes the entry for `id` on behalf of `requester` and returns its
    /// handle. Throws `.unknownID` if there is none and `.notOwner` if
    /// another process created it (the entry stays).
    mutating func remove(id: OverlayID, requester: OwnerToken) throws(OverlayError) -> UnsafeMutableRawPointer {
        guard let position = index(of: id) else { throw .unknownID }
        let entry = entries![position]
        guard entry.owner == requester else { throw .notOwner }
        removeEntry(at: position)
        return entry.handle
    }

    /// Removes the entry for `id` if it names `handle` (the overlay is being
    /// released); returns whether there was one.
    @discardableResult
    mutating func remove(id: OverlayID, handle: UnsafeMutableRawPointer) -> Bool {
        guard let position = index(of: id), entries![position].handle == handle else { return false }
        removeEntry(at: position)
        return true
    }

    /// Whether `id` is registered for `handle`.
    func contains(id: OverlayID, handle: UnsafeMutableRawPointer) -> Bool {
        guard let position = index(of: id) else { return false }
        return entries![position].handle == handle
    }

    /// Calls `body` with each entry, in id order.
    func forEach(_ body: (Entry) -> Void) {
        for position in 0..<count { body(entries![position]) }
    }

    // MARK: Storage

    private func index(of id: OverlayID) -> Int? {
        let position = lowerBound(of: id)
        guard position < count && entries![position].id == id else { return nil }
        return position
    }

    private func lowerBound(of id: OverlayID) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = Int(bitPattern: UInt(bitPattern: low &+ high) >> 1)
            if entries![middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private mutating func removeEntry(at position: Int) {
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
