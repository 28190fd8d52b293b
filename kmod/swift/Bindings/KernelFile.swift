// SPDX-License-Identifier: GPL-2.0-or-later

/// A counted reference to an open file (`struct file`), dropped on deinit.
///
/// An overlay holds one per layer, so its layers stay open for as long as the
/// overlay can be read, whatever the process does with its own descriptors
/// and mappings.
struct KernelFile: ~Copyable {
    /// The `struct file`. Only Bindings/ reads it.
    let unsafeKernelPointer: OpaquePointer

    /// Adopts a reference the caller owns (a C function returned it).
    init(adopting file: OpaquePointer) {
        unsafeKernelPointer = file
    }

    /// Takes a new reference on a file that is alive while `file` is borrowed.
    init(retaining file: borrowing KernelFile) {
        unsafeKernelPointer = bs_file_get(file.unsafeKernelPointer)
    }

    deinit { bs_file_put(unsafeKernelPointer) }

    /// The open file of the caller's descriptor `fd`, if it is one.
    static func ofDescriptor(_ fd: Int32) -> KernelFile? {
        bs_fget(fd).map { KernelFile(adopting: $0) }
    }

    /// A new open file of the same file, for reading, with its own position
    /// (so that seeking it moves nothing the caller shares).
    func reopenedForReading() throws(OverlayError) -> KernelFile {
        var error: Int32 = 0
        guard let reopened = bs_file_reopen(unsafeKernelPointer, &error) else { throw .kernel(errno: -error) }
        return KernelFile(adopting: reopened)
    }

    /// What a request decides on about the file.
    var info: FileInfo { FileInfo(of: unsafeKernelPointer) }

    /// The file's inode, as a token that compares files by identity (two
    /// descriptors of one file share its page cache). Never shown anywhere.
    var identity: FileIdentity {
        FileIdentity(value: UInt64(UInt(bitPattern: bs_file_inode(unsafeKernelPointer))))
    }

    /// What says whether the file changed since.
    var stamp: FileStamp {
        var stamp = bs_layer_stamp()
        bs_file_stamp(unsafeKernelPointer, &stamp)
        return FileStamp(stamp)
    }

    /// Whether the file is open for writing (or mapped shared writable) anywhere.
    var hasWriters: Bool { bs_file_has_writers(unsafeKernelPointer) }

    /// The next byte offset at or after `offset` that starts data, or nil
    /// when there is none (ENXIO).
    func seekData(from offset: Int64) throws(OverlayError) -> Int64? {
        try seek(offset, whence: BS_SEEK_DATA)
    }

    /// The next byte offset at or after `offset` that starts a hole (the
    /// end of the file is one), or nil when `offset` is past the end.
    func seekHole(from offset: Int64) throws(OverlayError) -> Int64? {
        try seek(offset, whence: BS_SEEK_HOLE)
    }

    /// The extents that end after byte `offset`, in file order, by the
    /// filesystem's extent map (FIEMAP; the call from 0 first writes back
    /// the file's dirty pages), at most `buffer.count` of them stored at the
    /// start of `buffer`: their count, or nil when the filesystem keeps no map.
    func mappedExtents(from offset: UInt64,
                       into buffer: UnsafeMutableBufferPointer<MappedExtent>) throws(OverlayError) -> Int? {
        let extents = try PlatformBuffer<bs_file_extent>(capacity: buffer.count, chargedToCaller: true)
        let result = bs_file_map_extents(unsafeKernelPointer, offset, extents.base, UInt32(buffer.count))
        if result == -Int32(EOPNOTSUPP) { return nil }
        guard result >= 0 else { throw .kernel(errno: -result) }
        for index in 0..<Int(result) {
            let extent = extents.base[index]
            buffer[index] = MappedExtent(offset: extent.offset, length: extent.length,
                                         isUnwritten: extent.unwritten, isLast: extent.last)
        }
        return Int(result)
    }

    private func seek(_ offset: Int64, whence: Int) throws(OverlayError) -> Int64? {
        let result = bs_file_seek(unsafeKernelPointer, offset, Int32(whence))
        if result == -Int64(ENXIO) { return nil }
        guard result >= 0 else { throw .kernel(errno: Int32(truncatingIfNeeded: -result)) }
        return result
    }
}

/// A file's identity (its inode), for comparing and fingerprinting layers.
/// Derived from an address, so it is never logged or shown.
struct FileIdentity: Equatable {
    let value: UInt64
}

/// The attributes of a file that requests decide on.
struct FileInfo {
    /// The file size (i_size).
    let size: Int64
    let readaheadPages: UInt32
    let isRegular: Bool
    let isOpenForReading: Bool
    /// Its pages can be read through a page cache (a read_folio, or shmem).
    let hasPageCache: Bool
    /// An overlay file of this module: the overlay it maps (an `Overlay`).
    let overlay: UnsafeMutableRawPointer?
    /// A create request's overlay file: its `OverlayAttachment`.
    let attachment: UnsafeMutableRawPointer?
    /// Its filesystem's magic number when it has a block device, else 0.
    let blockFilesystemMagic: UInt64
    /// Its page cache may hold large folios.
    let hasLargeFolios: Bool
    /// Its mount or filesystem forbids executing it (a noexec mount).
    let forbidsExecution: Bool

    /// A regular file opened for reading whose pages the module can read:
    /// it can be a layer.
    var isReadableRegular: Bool { isRegular && isOpenForReading && hasPageCache }

    /// Describes `file` (a `struct file` kept alive by the caller).
    init(of file: OpaquePointer) {
        var info = bs_file_info()
        bs_file_describe(file, &info)
        size = info.size
        readaheadPages = info.readahead_pages
        isRegular = info.regular
        isOpenForReading = info.open_for_reading
        hasPageCache = info.page_cache
        overlay = info.overlay
        attachment = info.attachment
        blockFilesystemMagic = info.block_filesystem_magic
        hasLargeFolios = info.large_folios
        forbidsExecution = info.no_exec
    }
}

/// What says that a file changed: a request shares an overlay only while
/// every layer's stamp is what it was when the overlay was made (size,
/// change and modification times, and i_version where the filesystem keeps
/// one).
struct FileStamp: Equatable {
    private let stamp: bs_layer_stamp

    fileprivate init(_ stamp: bs_layer_stamp) { self.stamp = stamp }

    /// The file's size when stamped.
    var size: Int64 { stamp.size }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.stamp.size == b.stamp.size && a.stamp.ctime_sec == b.stamp.ctime_sec
            && a.stamp.ctime_nsec == b.stamp.ctime_nsec && a.stamp.mtime_sec == b.stamp.mtime_sec
            && a.stamp.mtime_nsec == b.stamp.mtime_nsec && a.stamp.version == b.stamp.version
    }
}
