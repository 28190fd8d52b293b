// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// This process's memory map (`/proc/self/maps`): one line per VMA.
public enum ProcessMaps {
    /// The number of VMAs that start inside `addresses`: for a range that
    /// one mapping covered, how many pieces it is now.
    ///
    /// - Throws: the `Errno` of reading `/proc/self/maps`.
    public static func vmaCount(in addresses: Range<UInt>) throws(Errno) -> Int {
        try vmaStarts().filter { addresses.contains($0) }.count
    }

    /// The VMA count of the memory `mapping` covers.
    public static func vmaCount(of mapping: MappedFile) throws(Errno) -> Int {
        let start = UInt(bitPattern: mapping.address)
        return try vmaCount(in: start..<(start + UInt(mapping.length)))
    }

    /// The start address of every VMA.
    static func vmaStarts() throws(Errno) -> [UInt] {
        try TextFile.read("/proc/self/maps").split(separator: "\n").compactMap { line in
            guard let dash = line.firstIndex(of: "-") else { return nil }
            return UInt(line[..<dash], radix: 16)
        }
    }
}
