// SPDX-License-Identifier: GPL-2.0-or-later

/// The 16-byte id a create request returns: random bytes, never derived
/// from a kernel address. Held as two words so that comparing is cheap.
struct OverlayID: Equatable, Comparable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads the id from its 16-byte ABI form (byte 0 most significant).
    init(bytes: UnsafeRawBufferPointer) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        self.init(high: high, low: low)
    }

    /// Writes the id in its 16-byte ABI form.
    func write(to bytes: UnsafeMutableRawBufferPointer) {
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i)) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i)) }
    }

    static func < (a: OverlayID, b: OverlayID) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }
}

/// Identifies a process for the rule "cleanup works only from the process
/// that created the overlay": its thread-group id plus its start time, so a
/// later process that reuses the pid is a different owner.
struct OwnerToken: Equatable {
    var processID: UInt64
    var startTime: UInt64

    init(processID: UInt64, startTime: UInt64) {
        self.processID = processID
        self.startTime = startTime
    }
}
