// SPDX-License-Identifier: GPL-2.0-or-later

/// The text of /sys/kernel/debug/batch_syscalls/overlays: one line per
/// registered id (a create request not cleaned up whose mapping is alive),
/// as `key=value` fields:
///
///     id=<32 hex digits> pid=<creator> overlay=<n> attached=<n>
///     segments=<n> layers=<n> cached_pages=<n> served=<layer 0>,<layer 1>,...
///
/// `overlay` numbers the overlay inode the request maps (requests that
/// share one show the same number) and `attached` counts the requests whose
/// mappings use it, cleaned up or not. Nothing in it is a kernel address.
enum OverlayListing {
    /// Renders the listing into `buffer`; nil if it does not fit (the
    /// caller retries with a larger one).
    static func render(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        var text = TextBuffer(buffer)
        OverlayDirectory.withLock { registry in
            // Holding the registry lock keeps every listed attachment, and
            // so its file, inode and overlay, alive: its release removes it
            // from the registry first.
            registry.forEach { entry in
                let overlay = AttachmentHandle(entry.handle).pointer.pointee.overlay
                text.append("id=")
                text.appendHex(entry.id.high)
                text.appendHex(entry.id.low)
                text.append(" pid=")
                text.append(entry.owner.processID)
                text.append(" overlay=")
                text.append(overlay.pointee.serial)
                text.append(" attached=")
                text.append(UInt64(Swift.max(0, overlay.pointee.attachedCount)))
                text.append(" segments=")
                text.append(UInt64(overlay.pointee.segments.count))
                text.append(" layers=")
                text.append(UInt64(overlay.pointee.layers.count))
                text.append(" cached_pages=")
                text.append(overlay.pointee.inode.map { bs_inode_cached_pages($0) } ?? 0)
                text.append(" served=")
                for layer in 0..<overlay.pointee.layers.count {
                    if layer > 0 { text.append(",") }
                    text.append(overlay.pointee.layers.pagesServed(by: LayerIndex(layer)))
                }
                text.append("\n")
            }
        }
        return text.overflowed ? nil : text.count
    }
}

extension OverlayListing {
    /// Renders /sys/kernel/debug/batch_syscalls/stats: one line
    ///
    ///     overlays=<n> shareable=<n> files=<n> ids=<n>
    ///
    /// the overlay inodes alive, those a create request may share, the
    /// create requests' files alive (cleaned up or not) and the ids
    /// registered. All four return to 0 when every mapping is gone.
    static func renderStats(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let (overlays, shareable) = OverlaySharing.counts
        let (files, ids) = OverlayDirectory.withLock { registry in (OverlayDirectory.liveFiles, registry.count) }
        var text = TextBuffer(buffer)
        text.append("overlays=")
        text.append(UInt64(overlays))
        text.append(" shareable=")
        text.append(UInt64(shareable))
        text.append(" files=")
        text.append(UInt64(files))
        text.append(" ids=")
        text.append(UInt64(ids))
        text.append("\n")
        return text.overflowed ? nil : text.count
    }
}

/// Appends text to a fixed buffer, remembering whether it ran out of room.
struct TextBuffer {
    private let buffer: UnsafeMutableRawBufferPointer
    private(set) var count = 0
    private(set) var overflowed = false

    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    mutating func append(byte: UInt8) {
        guard count < buffer.count else {
            overflowed = true
            return
        }
        buffer[count] = byte
        count += 1
    }

    mutating func append(_ text: StaticString) {
        let bytes = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for byte in bytes { append(byte: byte) }
    }

    /// `value` in decimal.
    mutating func append(_ value: UInt64) {
        var digits = InlineArray<20, UInt8>(repeating: 0)
        var remaining = value
        var length = 0
        repeat {
            digits[length] = UInt8(truncatingIfNeeded: remaining % 10) + 0x30
            remaining /= 10
            length += 1
        } while remaining > 0
        while length > 0 {
            length -= 1
            append(byte: digits[length])
        }
    }

    /// `value` as 16 hex digits.
    mutating func appendHex(_ value: UInt64) {
        var shift: UInt64 = 64
        while shift > 0 {
            shift -= 4
            let nibble = UInt8(truncatingIfNeeded: value >> shift & 0xF)
            append(byte: nibble < 10 ? nibble + 0x30 : nibble + 0x57)
        }
    }
}
