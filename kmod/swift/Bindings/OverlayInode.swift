// SPDX-License-Identifier: GPL-2.0-or-later

/// A counted reference to an inode of the module's filesystem whose page
/// cache an overlay fills (see kmod/glue/overlay_fs.c); dropped on deinit.
/// The inode owns its overlay: its eviction, once its last reference and
/// file are gone, releases the overlay (bs_swift_overlay_release).
struct OverlayInode: ~Copyable {
    private let inode: OpaquePointer

    private init(adopting inode: OpaquePointer) {
        self.inode = inode
    }

    deinit { bs_inode_put(inode) }

    /// A new inode of `size` bytes that owns `overlay` (a stored `Overlay`)
    /// from now on, also when this throws: then the caller still frees it.
    static func create(serving overlay: UnsafeMutableRawPointer, size: Int64) throws(OverlayError) -> OverlayInode {
        var error: Int32 = 0
        guard let inode = bs_overlay_inode_create(overlay, size, &error) else { throw .kernel(errno: -error) }
        return OverlayInode(adopting: inode)
    }

    /// The inode, not referenced (see `InodeReference`).
    var reference: InodeReference { InodeReference(inode: inode) }

    /// A new open file of the inode for one create request, which owns
    /// `attachment` (a stored `OverlayAttachment`) from then on: the file's
    /// release, its last mapping or descriptor gone, releases it. On failure
    /// the caller still owns `attachment`.
    func openFile(for attachment: UnsafeMutableRawPointer, readaheadPages: UInt32) throws(OverlayError) -> KernelFile {
        var error: Int32 = 0
        guard let file = bs_overlay_file_open(inode, attachment, readaheadPages, &error) else {
            throw .kernel(errno: -error)
        }
        return KernelFile(adopting: file)
    }
}

/// An overlay's inode, not referenced: the overlay keeps one so that other
/// requests can share it. Valid while the overlay is alive (the inode owns
/// the overlay, so it outlives it).
struct InodeReference {
    fileprivate let inode: OpaquePointer

    /// A new reference, unless the inode is being evicted.
    func grab() -> OverlayInode? {
        guard bs_inode_grab(inode) else { return nil }
        return OverlayInode(adoptingGrabbed: inode)
    }

    /// Pages in the inode's page cache.
    var cachedPages: UInt64 { bs_inode_cached_pages(inode) }
}

extension OverlayInode {
    fileprivate init(adoptingGrabbed inode: OpaquePointer) {
        self.init(adopting: inode)
    }
}
