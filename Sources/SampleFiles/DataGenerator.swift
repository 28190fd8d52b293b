// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// Writes the seed's data files into a directory.
public struct DataGenerator: Sendable {
    /// The seed used when none is given ("batchsys").
    public static let defaultSeed: UInt64 = 0x6261_7463_6873_7973
    /// The seed's sizes: 1024 pages, and 1024×1024 pages for the XL files.
    public static let defaultPages = 1024
    public static let defaultExtraLargePages = 1024 * 1024

    /// The directory the files go to (created if missing).
    public var directory: FilePath
    /// Pages of base.bin, base2.bin, overlay.bin and overlay_zebra.bin.
    public var pages: Int
    /// Pages of baseXL.bin, baseXL2.bin and overlayXL.bin; 0 writes none.
    public var extraLargePages: Int
    /// Fixes the contents of every seeded page.
    public var seed: UInt64

    public init(directory: FilePath, pages: Int = defaultPages, extraLargePages: Int = defaultExtraLargePages,
                seed: UInt64 = defaultSeed) {
        self.directory = directory
        self.pages = pages
        self.extraLargePages = extraLargePages
        self.seed = seed
    }

    /// The files this generator writes, each with its page count.
    public var files: [(file: DataFile, pages: Int)] {
        DataFile.allCases.compactMap { file in
            let count = file.isExtraLarge ? extraLargePages : pages
            return count > 0 ? (file, count) : nil
        }
    }

    /// A directory or file that could not be created or written.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The directory or file.
        public let path: FilePath
        /// What the failing system call returned.
        public let errno: Errno

        /// "write D/base.bin: ENOSPC (No space left on device)".
        public var description: String { "write \(path): \(errno.name) (\(errno))" }
    }

    /// Creates the directory and its missing parents, then writes every
    /// file; `progress(file, pagesWritten, pagesInFile)` is called after each
    /// chunk (4 MiB).
    ///
    /// - Throws: ``Failure``, naming the directory or file that failed.
    public func write(progress: (DataFile, Int, Int) -> Void = { _, _, _ in }) throws(Failure) {
        try makeDirectory()
        for (file, count) in files {
            let path = directory.appending(file.name)
            do {
                try file.pattern.write(to: path, pages: count, seed: seed) { progress(file, $0, count) }
            } catch {
                throw Failure(path: path, errno: error)
            }
        }
    }

    /// Creates the directory and its missing parents.
    ///
    /// - Throws: ``Failure``, naming the directory that could not be made.
    public func makeDirectory() throws(Failure) {
        var partial = directory.root.map { FilePath(root: $0) } ?? FilePath()
        for component in directory.components {
            partial.append(component)
            if mkdir(partial.string, 0o755) != 0 && errno != EEXIST {
                throw Failure(path: partial, errno: Errno(rawValue: errno))
            }
        }
    }
}

extension PagePattern {
    /// Writes a file of `pages` pages of this pattern (replacing any file
    /// there) in 4 MiB chunks, calling `progress(pagesWritten)` after each,
    /// then fsyncs it.
    ///
    /// - Throws: the `Errno` of creating, writing or syncing the file.
    public func write(to path: FilePath, pages: Int, seed: UInt64,
                      progress: (Int) -> Void = { _ in }) throws(Errno) {
        let pageSize = MemoryPage.size
        let chunkPages = max(1, (4 << 20) / pageSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter {
                var page = 0
                while page < pages {
                    let count = min(chunkPages, pages - page)
                    for index in 0..<count {
                        let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[(index * pageSize)..<((index + 1) * pageSize)])
                        fill(slice, page: page + index, seed: seed)
                    }
                    _ = try descriptor.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<(count * pageSize)]))
                    page += count
                    progress(page)
                }
                guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
            }
        }
    }
}
