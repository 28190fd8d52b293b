// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay

/// This process's mappings as /proc/self/maps and /proc/self/smaps show
/// them: what madvise changed on a VMA, seen from outside the module.
enum ProcessMaps {
    /// Whether /proc/self/maps has a mapping starting at `address`.
    static func lists(_ address: UnsafeRawPointer) -> Bool {
        let start = "\(hex(UInt(bitPattern: address)))-"
        return (SystemFiles.read("/proc/self/maps") ?? "").split(separator: "\n").contains { $0.hasPrefix(start) }
    }

    /// The VmFlags of the mapping starting at `address` ("rd", "dd", ...),
    /// nil when /proc/self/smaps has no such mapping.
    static func vmFlags(_ address: UnsafeRawPointer) -> Set<String>? {
        let start = "\(hex(UInt(bitPattern: address)))-"
        var inside = false
        for line in (SystemFiles.read("/proc/self/smaps") ?? "").split(separator: "\n") {
            if line.hasPrefix(start) {
                inside = true
            } else if inside && line.hasPrefix("VmFlags:") {
                return Set(line.dropFirst("VmFlags:".count).split(separator: " ").map(String.init))
            }
        }
        return nil
    }

    /// Whether mincore says nothing is mapped at `address` (ENOMEM): a
    /// range the process has no mapping for.
    static func unmapped(_ address: UnsafeMutableRawPointer, length: Int) -> Bool {
        var vector = [UInt8](repeating: 0, count: (length + pageSize - 1) / pageSize)
        return mincore(address, length, &vector) != 0 && errno == ENOMEM
    }
}
