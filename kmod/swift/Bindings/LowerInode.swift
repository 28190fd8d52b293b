// SPDX-License-Identifier: GPL-2.0-or-later

/// A counted reference to an inode of the module's filesystem whose page
/// cache an overlay fills (see kmod/glue/overlay_fs.c); dropped on deinit.
/// Overlays map its page cache (an overlay holds a reference).
/// The inode owns its overlay: its eviction, once its last reference and
/// file are gone, releases the overlay (bs_swift_lower_release).
struct LowerInode: ~Copyable {
    private let inode: OpaquePointer

    fileprivate init(adopting inode: OpaquePointer) {
        self.inode = inode
    }

    deinit { bs_inode_put(inode) }

    /// A new inode of `size` bytes that owns `overlay` (a stored `LowerLayers`)
    /// from now on; on failure the caller still owns it. With
    /// `largeFolios`, its page cache takes large folios where the kernel's
    /// readahead makes them (as ext4's does).
    static func create(serving overlay: UnsafeMutableRawPointer, size: Int64,
                       largeFolios: Bool) throws(OverlayError) -> LowerInode {
        var error: Int32 = 0
        guard let inode = bs_lower_inode_create(overlay, size, largeFolios, &error) else {
            throw .kernel(errno: -error)
        }
        return LowerInode(adopting: inode)
    }

    /// The inode's page cache.
    var mapping: PageCacheMapping { PageCacheMapping(unsafeKernelPointer: bs_inode_mapping(inode)) }

    /// The inode, not referenced (see `InodeReference`).
    var reference: InodeReference { InodeReference(unsafeKernelPointer: inode) }
}

/// An inode of the module's filesystem, not referenced: a lower stack or an
/// overlay keeps its own, so that other requests can share it. Valid while
/// the object is alive (the inode owns it, so it outlives it).
struct InodeReference {
    let unsafeKernelPointer: OpaquePointer

    /// Whether nothing references the inode: a lower stack kept unused for
    /// the next restore of its chain (see `OverlaySharing.sweepUnusedLowers`).
    var isUnused: Bool { bs_inode_unused(unsafeKernelPointer) }

    /// A new reference to a lower stack's inode, unless it is being evicted
    /// (an unused one's too: it is used again).
    func grabLower() -> LowerInode? {
        guard bs_inode_grab(unsafeKernelPointer) else { return nil }
        return LowerInode(adopting: unsafeKernelPointer)
    }
}
