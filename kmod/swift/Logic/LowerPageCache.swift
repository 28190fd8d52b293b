// SPDX-License-Identifier: GPL-2.0-or-later

/// Where an overlay's lower stack is served from. A lower stack of the base
/// file alone is served from the base file's own page cache (shared with
/// every plain mapping of it) where that is safe; any other lower stack from
/// an overlay inode's page cache that the module fills (shared with the
/// restores that have the same lower stack).
///
/// Safe means: the overlay's file maps the base's page cache, so the kernel
/// reads base pages into it with the overlay's file as the `file` argument of
/// `read_folio` and readahead. The filesystems below never look at that
/// argument (they read by the folio's inode); network and FUSE filesystems
/// do (it is their open-file state), and shmem has no read_folio at all.
enum LowerPageCache {
    /// ext2/3/4, XFS and btrfs, by `s_magic` (of a filesystem on a block
    /// device). (A switch: the kernel build has no Array.)
    static func readsByInode(filesystemMagic: UInt64) -> Bool {
        switch filesystemMagic {
        case 0xEF53, 0x5846_5342, 0x9123_683E: return true
        default: return false
        }
    }

    /// Whether a lower stack of `layerCount` layers and `segmentCount`
    /// segments, whose base is on a filesystem with `filesystemMagic` (0: no
    /// block device), is served from the base file's own page cache.
    ///
    /// Not where own pages lie above it and the base's page cache may hold
    /// large folios: kernels since 6.18 map a file's large folio whole, on a
    /// fault (finish_fault) and in fault-around (filemap_map_pages), over
    /// every page of it whose page table entry is empty, and an own page not
    /// yet copied has an empty one: it would show the base. A lower inode
    /// of single pages serves such stacks (`singlePageFolios`).
    static func isBaseFile(layerCount: Int, segmentCount: Int, filesystemMagic: UInt64,
                           baseHasLargeFolios: Bool, underOwnPages: Bool) -> Bool {
        layerCount == 1 && segmentCount == 0 && readsByInode(filesystemMagic: filesystemMagic)
            && !(underOwnPages && baseHasLargeFolios)
    }

    /// Whether a lower inode must keep its page cache in single pages: when
    /// own pages lie above it (a large folio would be mapped whole over
    /// them, as `isBaseFile` says), or when a page may lie past the end of
    /// the layer serving it (it must raise SIGBUS on its own).
    static func singlePageFolios(underOwnPages: Bool, everyPageInsideItsLayer: Bool) -> Bool {
        underOwnPages || !everyPageInsideItsLayer
    }
}
