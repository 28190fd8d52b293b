// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// The directory holding the seed's data files (`batch-syscalls sample-files`),
/// and what the programs make of them: mappings and verifiers.
public struct SeedData: Sendable {
    public let directory: FilePath

    public init(directory: FilePath) {
        self.directory = directory
    }

    /// The path of `file` in the directory.
    public func path(_ file: DataFile) -> FilePath {
        directory.appending(file.name)
    }

    /// Whether `file` is there (a regular file).
    public func exists(_ file: DataFile) -> Bool {
        var info = stat()
        return stat(path(file).string, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The number of pages of `file` (its last partial page included).
    ///
    /// - Throws: the `Errno` of `stat`.
    public func pageCount(_ file: DataFile) throws(Errno) -> Int {
        var info = stat()
        guard stat(path(file).string, &info) == 0 else { throw Errno(rawValue: errno) }
        return MemoryPage.count(coveringBytes: Int(info.st_size))
    }

    /// A private mapping of `file`, read-only unless `protection` says
    /// otherwise: what a base mapping is. `pages` limits it to the first
    /// pages.
    ///
    /// - Throws: the `Errno` of `open` or `mmap`.
    public func map(_ file: DataFile, protection: MappedFile.Protection = .read,
                    sharing: MappedFile.Sharing = .private, pages: Int? = nil) throws(Errno) -> MappedFile {
        try MappedFile(path: path(file), protection: protection, sharing: sharing, pages: pages)
    }

    /// A verifier of mappings of `base` overlaid with `segments` of
    /// `overlay`.
    public func verifier(base: DataFile = .base, overlay: DataFile = .overlay,
                         segments: SegmentList) -> OverlayVerifier {
        OverlayVerifier(basePath: path(base), overlayPath: path(overlay), segments: segments)
    }

    /// A verifier of plain mappings of `base`: every page must show the
    /// base file.
    public func plainVerifier(base: DataFile = .base) -> OverlayVerifier {
        OverlayVerifier(plainFile: path(base))
    }
}
