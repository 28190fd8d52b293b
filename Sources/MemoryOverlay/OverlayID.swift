// SPDX-License-Identifier: GPL-2.0-or-later

/// The 16-byte id the module gives an overlay: random, never a kernel
/// address. Written as 32 lowercase hex digits.
public struct OverlayID: Hashable, Sendable, CustomStringConvertible {
    /// The id's bytes, as the ABI's `id` field holds them.
    public let bytes: [UInt8]

    /// An id from its 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// An id from its 32 hex digits, as ``description`` and the module's
    /// listing write it.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 32 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 32, by: 2) {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    /// The all-zero id: what a request's `id` field holds until the module
    /// writes one back (the module never gives it).
    package static let zero = OverlayID(bytes: [UInt8](repeating: 0, count: 16))!

    /// An id from the ABI's `id` field.
    package init(tuple: IDTuple) {
        bytes = withUnsafeBytes(of: tuple) { Array($0) }
    }

    /// The id as the ABI's `id` field holds it.
    package var tuple: IDTuple {
        var value: IDTuple = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return value
    }

    /// The id as 32 lowercase hex digits, as the module's listing shows it.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: text, as: UTF8.self)
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The ABI's `unsigned char id[16]` as Swift imports it.
package typealias IDTuple = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
