// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// `batch-syscalls flatten`: writes the composed view of a snapshot chain
/// into a new file, the offline twin of `restore`.
struct FlattenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flatten",
        abstract: "Write the composed view of a snapshot chain (a base and diffs) into a new file.",
        discussion: """
            The offline twin of `restore` (what a snapshot editor calls rebase): \
            the output file gets, at every page P, the page P of the last DIFF \
            that serves it, or of the base where none does, and has the base's \
            size. DIFFs serve their data extents unless --segments-for gives \
            their pages, as for `restore`.

            Where /dev/batch_syscalls exists, the chain is restored with one v2 \
            request over a private mapping of the base and the output is copied \
            from that mapping; elsewhere (or with --plain-reads) every page is \
            read with pread(2) from the file that serves it. The output is \
            sparse: pages of the view that are all zeros (a hole of the layer \
            that serves them, say) are not written. A page served by a layer \
            file that ends before it is left a hole, with a warning.

            The output is then checked against the composition read with \
            pread(2), as cmp(1) would: the first differing byte is reported \
            and the exit status is 1. The output may not be one of the inputs.

            Exit status: 0 on success, 1 when a step fails or the check finds a \
            difference, 64 for bad arguments.

            EXAMPLES:
              Flatten a chain written by `sample-files --chain 3`:
                batch-syscalls flatten --base chain/chain-base.bin \\
                    chain/chain-diff-1.bin chain/chain-diff-2.bin chain/chain-diff-3.bin \\
                    --output flat.bin

              Without the module, whether or not it is loaded:
                batch-syscalls flatten --base base.bin diff1.bin --output flat.bin --plain-reads
            """
    )

    @Option(help: ArgumentHelp("The base file.", valueName: "file"))
    var base: String

    @Argument(help: ArgumentHelp("The diff files, lowest first (1 to 255).", valueName: "diff"))
    var diffs: [String]

    @Option(name: .customLong("segments-for"), parsing: .singleValue, help: ArgumentHelp(
        "The pages DIFF serves, instead of its data extents: pages and ranges ('0,4-6'), or @FILE.",
        valueName: "diff=spec"),
            transform: { try LayerSegments.parse($0) })
    var segmentsFor: [LayerSegments] = []

    @Option(help: ArgumentHelp("The file to write (replaced if it exists).", valueName: "file"))
    var output: String

    @Flag(help: "Read every page with pread(2), even where the module is loaded.")
    var plainReads = false

    @Option(help: ArgumentHelp("The module's device.", valueName: "path"))
    var device: String = OverlayDevice.defaultPath.string

    func validate() throws {
        try RestoreCommand.validate(diffs: diffs, segmentsFor: segmentsFor)
        var outputInfo = stat()
        guard stat(output, &outputInfo) == 0 else { return }
        for input in [base] + diffs {
            var info = stat()
            if stat(input, &info) == 0 && info.st_dev == outputInfo.st_dev && info.st_ino == outputInfo.st_ino {
                throw ValidationError("--output \(output) is the input \(input): flatten into a new file")
            }
        }
    }

    func run() throws {
        do {
            try flatten()
        } catch {
            throw error.report(from: Self.self)
        }
    }

    private func flatten() throws(ToolFailure) {
        let chain = try ChainInput(basePath: base, diffPaths: diffs, segmentsFor: segmentsFor)
        let clock = ContinuousClock()
        let start = clock.now
        // The source of the composed pages: the restored mapping, or nil for plain reads.
        var restored: Overlay?
        if !plainReads && OverlayDevice.exists(at: FilePath(device)) {
            let baseMapping = try ApplyCommand.map(base, protection: [.read, .write])
            let overlayDevice = try ApplyCommand.openDevice(device)
            do {
                restored = try overlayDevice.stack(base: baseMapping, layers: chain.layers)
            } catch {
                throw ToolFailure("restore the chain", error, hint: RestoreCommand.stackHint(for: error))
            }
        }
        let via = if let id = restored?.id { "one v2 request (overlay \(id))" } else { "plain reads" }
        Console.line("flattening \(diffs.count) diff\(diffs.count == 1 ? "" : "s") over \(base) via \(via)")
        chain.reportLayers()

        let out: FileDescriptor
        do {
            out = try Errno.rethrowing {
                try FileDescriptor.open(FilePath(output), .readWrite, options: [.create, .truncate, .closeOnExec],
                                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
            }
        } catch {
            throw ToolFailure("create \(output)", error)
        }
        defer { try? out.close() }
        let written = try write(chain, from: restored?.base, to: out)
        let elapsed = clock.now - start
        var info = stat()
        let allocated = fstat(out.rawValue, &info) == 0 ? Int(info.st_blocks) * 512 : 0
        Console.line("  wrote     \(output): \(chain.base.pageCount) pages, \(written.data) with data, "
                     + "\(chain.base.pageCount - written.data) holes; \(Units.bytes(allocated)) allocated of "
                     + "\(Units.bytes(chain.base.size)), in \(Units.duration(elapsed))")
        if written.pastEnd > 0 {
            Console.line("  warning   \(written.pastEnd) pages lie past the end of the layer file that serves them: left as holes")
        }
        try compare(out, with: chain)
    }

    /// Copies every page of the view into `out`, skipping all-zero pages;
    /// returns the pages written and those past their layer's end.
    private func write(_ chain: ChainInput, from mapping: MappedFile?,
                       to out: FileDescriptor) throws(ToolFailure) -> (data: Int, pastEnd: Int) {
        let pageSize = MemoryPage.size
        guard ftruncate(out.rawValue, off_t(chain.base.size)) == 0 else {
            throw ToolFailure("truncate \(output)", Errno(rawValue: errno))
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        var data = 0
        var pastEnd = 0
        for (page, layer) in chain.view.servingLayers.enumerated() {
            if page >= chain.file(ofLayer: layer).pageCount {
                pastEnd += 1
                continue
            }
            if let mapping {
                buffer.copyMemory(from: mapping.page(atFilePage: page).baseAddress!, byteCount: pageSize)
            } else {
                _ = try chain.readComposedPage(page, layer: layer, into: buffer)
            }
            if Self.isZero(buffer, count: pageSize) { continue }
            data += 1
            // The last page only up to the base's end: the file keeps its size.
            let count = min(pageSize, chain.base.size - page * pageSize)
            do {
                _ = try out.writeAll(toAbsoluteOffset: Int64(page * pageSize),
                                     UnsafeRawBufferPointer(start: buffer, count: count))
            } catch {
                throw ToolFailure("write \(output) page \(page)", error as? Errno ?? Errno(rawValue: EIO))
            }
        }
        guard fsync(out.rawValue) == 0 else { throw ToolFailure("fsync \(output)", Errno(rawValue: errno)) }
        return (data, pastEnd)
    }

    /// The cmp-like check: the output, read back, against the composition
    /// read with pread from the layer files.
    private func compare(_ out: FileDescriptor, with chain: ChainInput) throws(ToolFailure) {
        let pageSize = MemoryPage.size
        let expected = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        let actual = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer {
            expected.deallocate()
            actual.deallocate()
        }
        var info = stat()
        guard fstat(out.rawValue, &info) == 0 else { throw ToolFailure("stat \(output)", Errno(rawValue: errno)) }
        guard Int(info.st_size) == chain.base.size else {
            throw ToolFailure("cmp: \(output) has \(info.st_size) bytes, the composition \(chain.base.size)")
        }
        for (page, layer) in chain.view.servingLayers.enumerated() {
            if !(try chain.readComposedPage(page, layer: layer, into: expected)) { memset(expected, 0, pageSize) }
            let wanted = min(pageSize, chain.base.size - page * pageSize)
            memset(actual, 0, pageSize)
            var done = 0
            while done < wanted {
                let count = pread(out.rawValue, actual + done, wanted - done, off_t(page * pageSize + done))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw ToolFailure("read back \(output) page \(page)", Errno(rawValue: count < 0 ? errno : EIO))
                }
                done += count
            }
            if memcmp(expected, actual, pageSize) != 0 {
                let bytes = actual.assumingMemoryBound(to: UInt8.self)
                let want = expected.assumingMemoryBound(to: UInt8.self)
                let offset = (0..<pageSize).first { bytes[$0] != want[$0] } ?? 0
                throw ToolFailure("cmp: \(output) differs from the composition: byte \(page * pageSize + offset + 1), "
                                  + "page \(page) (served by \(chain.file(ofLayer: layer).name))")
            }
        }
        Console.line("  compared  \(output) with the composition read with pread: identical")
    }

    private static func isZero(_ buffer: UnsafeRawPointer, count: Int) -> Bool {
        let words = buffer.assumingMemoryBound(to: UInt64.self)
        for index in 0..<(count / 8) where words[index] != 0 { return false }
        return true
    }
}
