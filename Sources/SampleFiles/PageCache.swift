// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// The kernel's page cache, as far as a test can steer it.
public enum PageCache {
    /// Whether this process may drop the page cache (root).
    public static var canDrop: Bool { geteuid() == 0 }

    /// The reason given when a cold-cache part is skipped.
    public static let cannotDropReason = "not root: dropping the page cache (/proc/sys/vm/drop_caches) needs root"

    /// Writes dirty pages back, then drops clean page cache, dentries and
    /// inodes (`sync; echo 3 > /proc/sys/vm/drop_caches`): the next read of
    /// any file page, the overlay's included, goes to its filesystem.
    /// Mapped pages stay: only pages no mapping holds can be dropped.
    ///
    /// - Throws: the `Errno` of opening or writing drop_caches (`EACCES`
    ///   when not root).
    public static func drop() throws(Errno) {
        sync()
        try TextFile.write("/proc/sys/vm/drop_caches", "3\n")
    }
}
