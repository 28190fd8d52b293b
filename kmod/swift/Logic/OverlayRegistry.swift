// SPDX-License-Identifier: GPL-2.0-or-later

/// The overlay registry: the live overlay ids, which create request an id
/// names and which process may clean it up.
///
/// An entry lives from a successful create request until the cleanup request
/// or until the request's mapping goes away, whichever comes first. The
/// registry never keeps anything alive: `handle` is the request's
/// attachment as an opaque token, removed by its release before it is
/// freed. Callers serialise access (a mutex in the kernel); operations may
/// allocate, so the lock must be a sleeping one.
struct OverlayRegistry: ~Copyable {
    struct Entry: SortedEntry {
        var id: OverlayID
        var owner: OwnerToken
        var handle: UnsafeMutableRawPointer

        var sortKey: OverlayID { id }
    }

    private var entries = SortedEntries<Entry>()
    /// Number of registered ids.
    var count: Int { entries.count }
    /// The last overlay's listing number.
    private var lastSerial: UInt64 = 0
    /// Create requests' files alive, cleaned up or not.
    private(set) var attachmentFiles = 0

    init() {}

    /// A number for a new overlay, unique while the registry lives.
    mutating func nextSerial() -> UInt64 {
        lastSerial += 1
        return lastSerial
    }

    /// Counts a create request's file opened (+1) or released (-1).
    mutating func countAttachmentFile(_ change: Int) {
        attachmentFiles += change
    }

    /// Adds `entry`. Throws `.alreadyOverlaid` if the id is taken (the
    /// caller draws a new random id) and `.outOfMemory` if growing fails;
    /// the registry is unchanged in both cases.
    mutating func insert(_ entry: Entry) throws(OverlayError) {
        guard index(of: entry.id) == nil else { throw .alreadyOverlaid }
        try entries.insert(entry)
    }

    /// Removes the entry for `id` on behalf of `requester` and returns its
    /// handle. Throws `.unknownID` if there is none and `.notOwner` if
    /// another process created it (the entry stays).
    mutating func remove(id: OverlayID, requester: OwnerToken) throws(OverlayError) -> UnsafeMutableRawPointer {
        guard let position = index(of: id) else { throw .unknownID }
        let entry = entries[position]
        guard entry.owner == requester else { throw .notOwner }
        entries.remove(at: position)
        return entry.handle
    }

    /// Removes the entry for `id` if it names `handle` (the request's
    /// mapping is being released); returns whether there was one.
    @discardableResult
    mutating func remove(id: OverlayID, handle: UnsafeMutableRawPointer) -> Bool {
        guard let position = index(of: id), entries[position].handle == handle else { return false }
        entries.remove(at: position)
        return true
    }

    /// Whether `id` is registered for `handle`.
    func contains(id: OverlayID, handle: UnsafeMutableRawPointer) -> Bool {
        guard let position = index(of: id) else { return false }
        return entries[position].handle == handle
    }

    /// Calls `body` with each entry, in id order.
    func forEach(_ body: (Entry) -> Void) {
        for position in 0..<entries.count { body(entries[position]) }
    }

    private func index(of id: OverlayID) -> Int? {
        let found = entries.positions(of: id)
        return found.isEmpty ? nil : found.lowerBound
    }
}
