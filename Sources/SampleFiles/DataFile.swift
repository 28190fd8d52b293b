// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// One of the seed's test data files: its name, size class and contents.
public enum DataFile: String, CaseIterable, Sendable {
    case base = "base.bin"
    case base2 = "base2.bin"
    case overlay = "overlay.bin"
    case zebra = "overlay_zebra.bin"
    case baseXL = "baseXL.bin"
    case baseXL2 = "baseXL2.bin"
    case overlayXL = "overlayXL.bin"

    /// The file's name in the data directory.
    public var name: String { rawValue }

    /// Whether the file has the large page count (`--xl-pages`).
    public var isExtraLarge: Bool { self == .baseXL || self == .baseXL2 || self == .overlayXL }

    /// What every page of the file holds.
    public var pattern: PagePattern {
        switch self {
        case .zebra: .zebra
        case .base: .seeded(stream: 1)
        case .base2: .seeded(stream: 2)
        case .overlay: .seeded(stream: 3)
        case .baseXL: .seeded(stream: 4)
        case .overlayXL: .seeded(stream: 5)
        case .baseXL2: .seeded(stream: 6)
        }
    }
}

/// The contents of a data file's pages, a function of the page number (and
/// the seed), so any page can be checked without reading the others.
public enum PagePattern: Sendable, Equatable {
    /// Pseudo-random bytes from its own stream: no page equals the same page
    /// of another file or another page of the same file. The first 16 bytes
    /// name the stream and the page (`BSPG`, stream, page), so a wrong page
    /// says where it came from.
    case seeded(stream: UInt32)
    /// Pages alternating all-0x00 (even pages) and all-0xFF (odd pages).
    case zebra

    /// The tag the first 4 bytes of a seeded page hold: "BSPG".
    public static let tag: UInt32 = 0x4750_5342

    /// Writes page `page`'s bytes into `buffer` (one page long).
    public func fill(_ buffer: UnsafeMutableRawBufferPointer, page: Int, seed: UInt64) {
        switch self {
        case .zebra:
            buffer.initializeMemory(as: UInt8.self, repeating: page % 2 == 0 ? 0x00 : 0xFF)
        case .seeded(let stream):
            var generator = SplitMix64(seed: seed ^ (UInt64(stream) &* 0xA24B_AED4_963E_E407)
                                       ^ (UInt64(page) &* 0x9FB2_1C65_1E98_DF25))
            generator.fill(buffer)
            buffer.storeBytes(of: Self.tag.littleEndian, toByteOffset: 0, as: UInt32.self)
            buffer.storeBytes(of: stream.littleEndian, toByteOffset: 4, as: UInt32.self)
            buffer.storeBytes(of: UInt64(page).littleEndian, toByteOffset: 8, as: UInt64.self)
        }
    }

    /// The (stream, page) a seeded page names in its first 16 bytes, if it
    /// starts with the tag.
    public static func origin(of page: UnsafeRawBufferPointer) -> (stream: UInt32, page: Int)? {
        guard page.count >= 16, UInt32(littleEndian: page.loadUnaligned(as: UInt32.self)) == tag else { return nil }
        return (UInt32(littleEndian: page.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                Int(UInt64(littleEndian: page.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))
    }

    /// The data file whose seeded pattern uses `stream`.
    public static func file(ofStream stream: UInt32) -> DataFile? {
        DataFile.allCases.first { $0.pattern == .seeded(stream: stream) }
    }
}
