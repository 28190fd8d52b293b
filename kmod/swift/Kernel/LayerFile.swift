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

    /// What the create request needs to know about a file.
    static func describe(_ file: OpaquePointer) -> bs_file_info {
        var info = bs_file_info()
        bs_file_describe(file, &info)
        return info
    }
}
