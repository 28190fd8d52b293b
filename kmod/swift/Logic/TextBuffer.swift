// SPDX-License-Identifier: GPL-2.0-or-later

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
