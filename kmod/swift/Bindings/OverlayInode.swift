// SPDX-License-Identifier: GPL-2.0-or-later

/// A counted reference to an overlay inode of the module's filesystem (see
/// kmod/glue/overlay.c); dropped on deinit. The inode owns its overlay: its
/// eviction, once its last reference and file are gone, releases the overlay
/// (bs_swift_overlay_release).
struct OverlayInode: ~Copyable {
    private let inode: OpaquePointer

    fileprivate init(adopting inode: OpaquePointer) {
        self.inode = inode
    }

    deinit { bs_inode_put(inode) }

    /// The inode, not referenced (see `InodeReference`).
    var reference: InodeReference { InodeReference(unsafeKernelPointer: inode) }

    /// A new inode of `size` bytes that owns `overlay` (a stored `Overlay`) from
    /// now on; on failure the caller still owns it.
    init(serving overlay: UnsafeMutableRawPointer, size: Int64) throws(OverlayError) {
        var error: Int32 = 0
        guard let inode = bs_overlay_inode_create(overlay, size, &error) else { throw .kernel(errno: -error) }
        self.inode = inode
    }

    /// A new open file of the overlay for one create request, mapping `pages`
    /// (the lower stack's page cache), which owns `attachment` (a stored
    /// `OverlayAttachment`) from then on: the file's release, its last
    /// mapping or descriptor gone, releases it. On failure the caller still
    /// owns `attachment`.
    func openFile(for attachment: UnsafeMutableRawPointer, mapping pages: PageCacheMapping,
                  readaheadPages: UInt32) throws(OverlayError) -> KernelFile {
        var error: Int32 = 0
        guard let file = bs_overlay_file_open(inode, attachment, pages.unsafeKernelPointer, readaheadPages, &error) else {
            throw .kernel(errno: -error)
        }
        return KernelFile(adopting: file)
    }
}

extension InodeReference {
    /// A new reference to an overlay's inode, unless it is being evicted.
    func grabOverlay() -> OverlayInode? {
        guard bs_inode_grab(unsafeKernelPointer) else { return nil }
        return OverlayInode(adopting: unsafeKernelPointer)
    }
}

/// A page cache (`struct address_space`): the one an overlay's files map.
/// Valid while the file or inode it came from is.
struct PageCacheMapping {
    let unsafeKernelPointer: OpaquePointer

    init(unsafeKernelPointer: OpaquePointer) {
        self.unsafeKernelPointer = unsafeKernelPointer
    }

    /// Pages it holds at indexes `first...last`.
    func cachedPages(_ first: UInt64, _ last: UInt64) -> UInt64 {
        bs_mapping_cached_pages(unsafeKernelPointer, first, last)
    }
}

extension KernelFile {
    /// The file's page cache.
    var mapping: PageCacheMapping { PageCacheMapping(unsafeKernelPointer: bs_file_mapping(unsafeKernelPointer)) }
}
