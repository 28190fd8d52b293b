// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// The system's memory page: the unit of every overlay segment.
public enum MemoryPage {
    /// The page size in bytes (`sysconf(_SC_PAGESIZE)`), 4096 on x86-64.
    public static let size: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The number of whole pages in `bytes` bytes, rounding up.
    public static func count(coveringBytes bytes: Int) -> Int {
        (bytes + size - 1) / size
    }
}
