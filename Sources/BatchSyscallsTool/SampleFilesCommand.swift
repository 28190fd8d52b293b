// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// `batch-syscalls sample-files`: writes the seed's sample data files with
/// `DataGenerator`, or a sample snapshot chain with `ChainGenerator`,
/// reporting each file as it is written.
struct SampleFilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-files",
        abstract: "Write sample files to overlay: the seed's test files, or a snapshot chain (--chain N).",
        discussion: """
            Writes base.bin, base2.bin and overlay.bin (pseudo-random pages from \
            the seed, each file its own stream) and overlay_zebra.bin (pages \
            alternating all-0x00 and all-0xFF, page 0 zeros) of --pages pages, \
            then baseXL.bin, baseXL2.bin and overlayXL.bin of --xl-pages pages. \
            Pages are the system's page size. Existing files of those names are \
            replaced; the same seed and sizes always give the same bytes. The \
            first 16 bytes of a pseudo-random page name its file and page \
            ("BSPG", stream, page), so a wrong page in an overlaid mapping says \
            where it came from.

            Standard output gets one line per file written and a summary. When \
            standard error is a terminal, a progress bar for the file being \
            written is drawn there, in place. Before writing, the command checks \
            that the file system has room for all the files.

            The defaults are the seed's sizes: with 4096-byte pages the three \
            XL files take 4 GiB each. Use --xl-pages 0 to skip them.

            --chain N writes a snapshot chain instead, for `restore`, `flatten`, \
            the tests and the bench: chain-base.bin and N sparse diff files \
            chain-diff-1.bin ... chain-diff-N.bin, all of --pages pages. The \
            base holds data but for pages 24-31 of every fourth block of 32 \
            pages (holes); diff K holds, in two blocks of every three, a run \
            of 4 + (K-1) % 8 dirty pages starting at page 0, 3, 6, ... 18, \
            15, ... 3, 0, 3, ... of the block for K = 1, 2, 3, ..., and holes \
            everywhere else, so each diff's dirty pages overlap the next one's.

            EXAMPLES:
              Small files for the guest tests (the harness's sizes):
                batch-syscalls sample-files --dir test-data --pages 1024 \\
                    --xl-pages 16384 --seed 1

              Only the four small files, in the current directory:
                batch-syscalls sample-files --xl-pages 0

              A base and three overlapping sparse diffs of 1024 pages:
                batch-syscalls sample-files --dir chain --chain 3

              The same seed gives the same bytes:
                batch-syscalls sample-files --dir a --xl-pages 0 --seed 0x2a
                batch-syscalls sample-files --dir b --xl-pages 0 --seed 42
                cmp a/base.bin b/base.bin
            """
    )

    @Option(name: .customLong("dir"),
            help: ArgumentHelp("The directory to write the files to; created if missing.", valueName: "directory"))
    var directory: String = "."

    @Option(help: "Pages of base.bin, base2.bin, overlay.bin and overlay_zebra.bin (at least 1).")
    var pages: Int = DataGenerator.defaultPages

    @Option(name: .customLong("xl-pages"),
            help: "Pages of baseXL.bin, baseXL2.bin and overlayXL.bin; 0 skips them.")
    var extraLargePages: Int = DataGenerator.defaultExtraLargePages

    @Option(help: ArgumentHelp("The seed of the pseudo-random pages, decimal or 0x hex.", valueName: "seed"))
    var seed: DataSeed = .default

    @Option(help: ArgumentHelp(
        "Write a base and N sparse diffs whose dirty pages overlap (1 to 255) instead of the seed's files.",
        valueName: "n"))
    var chain: Int?

    func validate() throws {
        guard pages >= 1 else { throw ValidationError("--pages must be at least 1, not \(pages)") }
        if let chain, !(1...Layer.maximumCount).contains(chain) {
            throw ValidationError("--chain must be 1 to \(Layer.maximumCount) (the layers of one request), not \(chain)")
        }
        guard extraLargePages >= 0 else {
            throw ValidationError("--xl-pages must be 0 (no XL files) or more, not \(extraLargePages)")
        }
        // All seven files' sizes in bytes, added up, must fit an Int (and
        // so each an off_t); the limit is an exbibyte or so.
        let limit = Int.max / MemoryPage.size / 8
        for (name, count) in [("--pages", pages), ("--xl-pages", extraLargePages)] where count > limit {
            throw ValidationError("\(name) \(count) is too large: at most \(limit) pages of \(MemoryPage.size) bytes")
        }
    }

    func run() throws {
        do {
            try write()
        } catch {
            throw error.report(from: Self.self)
        }
    }

    private func write() throws(ToolFailure) {
        if let chain { return try writeChain(chain) }
        let directoryPath = FilePath(directory)
        let generator = DataGenerator(directory: directoryPath, pages: pages, extraLargePages: extraLargePages,
                                      seed: seed.value)
        let files = generator.files
        try checkRoom(for: files, in: directoryPath)

        var bar = Console.isTerminal(.standardError) ? ProgressBar(terminal: .standardError) : nil
        let clock = ContinuousClock()
        let start = clock.now
        do throws(DataGenerator.Failure) {
            try generator.write { file, written, total in
                if written < total {
                    bar?.show(file.name, done: written * MemoryPage.size, total: total * MemoryPage.size)
                    return
                }
                bar?.clear()
                Console.line("wrote \(directoryPath.appending(file.name)): \(total) pages, "
                             + Units.bytes(total * MemoryPage.size))
            }
        } catch {
            bar?.clear()
            throw ToolFailure("write \(error.path)", error.errno)
        }
        let bytes = files.reduce(0) { $0 + $1.pages * MemoryPage.size }
        Console.line("generated \(files.count) files in \(directory): \(Units.bytes(bytes)) in "
                     + "\(Units.duration(clock.now - start)) (seed \(Units.hex(seed.value)), "
                     + "page size \(MemoryPage.size))")
    }

    /// `--chain N`: the base and N sparse diffs.
    private func writeChain(_ diffs: Int) throws(ToolFailure) {
        let generator = ChainGenerator(directory: FilePath(directory), pages: pages, diffs: diffs, seed: seed.value)
        let dataPages = ChainGenerator.baseData(pages: pages).reduce(0) { $0 + $1.count }
            + (1...diffs).reduce(0) { total, k in
                total + ChainGenerator.dirtyPages(ofDiff: k, pages: pages).reduce(0) { $0 + $1.count }
            }
        try checkRoom(bytes: dataPages * MemoryPage.size, in: FilePath(directory))
        let clock = ContinuousClock()
        let start = clock.now
        do throws(DataGenerator.Failure) {
            try generator.write { path in
                let name = path.lastComponent?.string ?? path.string
                let data: [ClosedRange<Int>]
                if name == ChainGenerator.baseName {
                    data = ChainGenerator.baseData(pages: pages)
                } else {
                    let k = Int(name.dropFirst("chain-diff-".count).dropLast(".bin".count)) ?? 0
                    data = ChainGenerator.dirtyPages(ofDiff: k, pages: pages)
                }
                Console.line("wrote \(path): \(pages) pages, \(data.reduce(0) { $0 + $1.count }) with data "
                             + "in \(data.count) extent\(data.count == 1 ? "" : "s")")
            }
        } catch {
            throw ToolFailure("write \(error.path)", error.errno)
        }
        Console.line("generated a chain of \(diffs) diff\(diffs == 1 ? "" : "s") in \(directory): "
                     + "\(Units.bytes(dataPages * MemoryPage.size)) of data in \(Units.duration(clock.now - start)) "
                     + "(seed \(Units.hex(seed.value)), page size \(MemoryPage.size))")
    }

    /// Refuses to start when the file system cannot hold the files, rather
    /// than fill it and stop half-way through a 4 GiB file. Files about to
    /// be replaced count as free space.
    private func checkRoom(for files: [(file: DataFile, pages: Int)], in directory: FilePath) throws(ToolFailure) {
        var needed = 0
        for (file, count) in files {
            needed += count * MemoryPage.size
            var info = stat()
            if stat(directory.appending(file.name).string, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
                needed -= Int(info.st_size)
            }
        }
        try checkRoom(bytes: needed, in: directory)
    }

    /// Refuses to start when the file system has less than `needed` bytes
    /// free (a file system without a size says nothing: writing finds out).
    private func checkRoom(bytes needed: Int, in directory: FilePath) throws(ToolFailure) {
        // The directory may not exist yet: its nearest existing ancestor is
        // on the file system it will be created on.
        var existing = directory
        var fileSystem = statvfs()
        while statvfs(existing.string, &fileSystem) != 0 {
            // Another error, or nothing left to climb: writing will say why.
            guard errno == ENOENT, existing != ".", existing.removeLastComponent() else { return }
            if existing.isEmpty { existing = "." }
        }
        // A file system without a size (procfs, some FUSE ones) says
        // nothing about room: let writing find out.
        guard fileSystem.f_blocks > 0 else { return }
        let free = Int(fileSystem.f_bavail) * Int(fileSystem.f_frsize)
        if needed > free {
            throw ToolFailure("\(directory)", .noSpace,
                              hint: "the files need \(Units.bytes(needed)) more, \(Units.bytes(free)) are free")
        }
    }
}
