// SPDX-License-Identifier: GPL-2.0-or-later

/// The overlays that a create request may share instead of making its own,
/// by the fingerprint of their stack (`StackFingerprint`). Several overlays
/// may have one fingerprint (a collision, or an overlay made while an equal
/// one could not be shared); the caller compares each candidate in full.
/// `handle` is an opaque token, removed before the overlay is freed.
struct SharedOverlayIndex: ~Copyable {
    struct Entry: SortedEntry {
        var fingerprint: UInt64
        var handle: UnsafeMutableRawPointer

        var sortKey: UInt64 { fingerprint }
    }

    /// What the caller makes of a candidate. (A struct, not an enum: an
    /// enum without payloads brings Hashable, whose hashing needs a random
    /// seed the kernel build does not provide.)
    struct Verdict {
        fileprivate let code: UInt8
        /// Share this one.
        static let take = Verdict(code: 0)
        /// Not this one.
        static let skip = Verdict(code: 1)
        /// Not this one, nor ever again: remove it (it went stale).
        static let drop = Verdict(code: 2)
    }

    private var entries = SortedEntries<Entry>()
    var count: Int { entries.count }

    init() {}

    mutating func insert(fingerprint: UInt64, handle: UnsafeMutableRawPointer) throws(OverlayError) {
        try entries.insert(Entry(fingerprint: fingerprint, handle: handle))
    }

    /// Removes `handle`'s entry; returns whether there was one.
    @discardableResult
    mutating func remove(fingerprint: UInt64, handle: UnsafeMutableRawPointer) -> Bool {
        for position in entries.positions(of: fingerprint) where entries[position].handle == handle {
            entries.remove(at: position)
            return true
        }
        return false
    }

    /// Calls `body` with every entry's handle, in fingerprint order.
    func forEach(_ body: (UnsafeMutableRawPointer) -> Void) {
        for position in 0..<entries.count { body(entries[position].handle) }
    }

    /// Removes and returns the first entry (in fingerprint order) that
    /// `picks` picks.
    mutating func removeFirst(where picks: (UnsafeMutableRawPointer) -> Bool) -> UnsafeMutableRawPointer? {
        for position in 0..<entries.count where picks(entries[position].handle) {
            let handle = entries[position].handle
            entries.remove(at: position)
            return handle
        }
        return nil
    }

    /// The first candidate with `fingerprint` that `judge` takes, removing
    /// those it drops on the way.
    mutating func claim(fingerprint: UInt64,
                        _ judge: (UnsafeMutableRawPointer) -> Verdict) -> UnsafeMutableRawPointer? {
        var position = entries.positions(of: fingerprint).lowerBound
        while position < entries.count && entries[position].fingerprint == fingerprint {
            let handle = entries[position].handle
            let verdict = judge(handle)
            if verdict.code == Verdict.take.code { return handle }
            if verdict.code == Verdict.drop.code {
                entries.remove(at: position)
            } else {
                position += 1
            }
        }
        return nil
    }
}

/// A 64-bit fingerprint of an overlay's stack: its layer files and its
/// segment table, word by word. Equal stacks have equal fingerprints; the
/// converse is checked in full.
struct StackFingerprint {
    private(set) var value: UInt64 = 0x6273_7973_5f73_6861  // "bsys_sha"

    init() {}

    mutating func combine(_ word: UInt64) {
        let mixed = (value ^ (word &* 0x9E37_79B9_7F4A_7C15))
        value = ((mixed << 27) | (mixed >> 37)) &* 0xBF58_476D_1CE4_E5B9
    }
}

extension SegmentTable {
    /// Adds every segment to `fingerprint`.
    func fingerprint(into fingerprint: inout StackFingerprint) {
        for segment in segments {
            fingerprint.combine(segment.first | UInt64(segment.layer) << LayerSegment.pageBits)
            fingerprint.combine(segment.last)
        }
    }

    /// Whether `other` has exactly these segments.
    func hasSameSegments(as other: borrowing SegmentTable) -> Bool {
        guard count == other.count else { return false }
        let mine = segments
        let theirs = other.segments
        for index in 0..<count where mine[index] != theirs[index] { return false }
        return true
    }
}
