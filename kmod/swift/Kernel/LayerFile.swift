// SPDX-License-Identifier: GPL-2.0-or-later

/// A counted reference to an open file (`struct file`), dropped on deinit.
/// An overlay holds one per layer, so its layers stay open for as long as
/// the overlay can be read, whatever the process does with its own
/// descriptors and mappings.
struct LayerFile: ~Copyable {
    let file: OpaquePointer

    /// Takes a new reference on `file` (which the caller keeps alive).
    init(retaining file: OpaquePointer) {
        self.file = bs_file_get(file)
    }

    /// Adopts the reference the caller owns.
    init(adopting file: OpaquePointer) {
        self.file = file
    }

    deinit { bs_file_put(file) }

    /// The file's size in bytes.
    var size: Int64 { bs_file_size(file) }

    /// Its readahead window, in pages.
    var readaheadPages: UInt32 { bs_file_readahead_pages(file) }
}
