// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// `batch-syscalls restore`: lays a snapshot chain (a base and diffs) over
/// a private mapping of the base with one v2 request.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Lay a snapshot chain (a base file and diff files) over a private mapping of the base in one request.",
        discussion: """
            Maps the base file private with read-write protection, as a restored \
            VM's memory is mapped (nothing is written to it), opens each DIFF for \
            reading and asks /dev/batch_syscalls to lay all of them over the base \
            mapping with one IOCTL_MEM_OVERLAY_STACK_CMD request (ABI v2): later \
            diffs lie above earlier ones, and the mapping never shows part of the \
            chain. A page of the mapping at file page offset P shows the last DIFF \
            that serves P, or the base file's page P when none does.

            A DIFF serves the pages of its file that hold data (its data extents, \
            found with SEEK_DATA and SEEK_HOLE; a page partly data counts as \
            data), so sparse diff files need no segment list. --segments-for \
            DIFF=SPEC gives a diff's pages instead, as `apply --segments` takes \
            them (pages and ranges, or @FILE); DIFF is named as among the \
            arguments.

            The command prints each layer's pages and extents, the pages each \
            layer serves in the composed view, the overlay's id and the time the \
            request took. --verify then touches every page of the mapping and \
            compares it with the page of the file that serves it, read with \
            pread(2) (pages past the end of the file that serves them are not \
            touched: reading them raises SIGBUS). --hold keeps the overlay alive \
            for `batch-syscalls inspect`, as `apply --hold` does.

            Exit status: 0 on success, 1 when a step fails or --verify finds a \
            mismatch, 64 for bad arguments.

            EXAMPLES:
              A chain written by `sample-files --chain 3`, every page checked:
                batch-syscalls sample-files --chain 3 --dir chain
                batch-syscalls restore --base chain/chain-base.bin \\
                    chain/chain-diff-1.bin chain/chain-diff-2.bin chain/chain-diff-3.bin --verify

              The second diff by a segment list; keep the overlay to inspect it:
                batch-syscalls restore --base base.bin diff1.bin diff2.bin \\
                    --segments-for diff2.bin=@dirty2.txt --hold 60 &
                batch-syscalls inspect
            """
    )

    @Option(help: ArgumentHelp(
        "The base file: mapped private with read-write protection, never written.", valueName: "file"))
    var base: String

    @Argument(help: ArgumentHelp("The diff files, lowest first (1 to 255).", valueName: "diff"))
    var diffs: [String]

    @Option(name: .customLong("segments-for"), parsing: .singleValue, help: ArgumentHelp(
        "The pages DIFF serves, instead of its data extents: pages and ranges ('0,4-6'), or @FILE.",
        valueName: "diff=spec"),
            transform: { try LayerSegments.parse($0) })
    var segmentsFor: [LayerSegments] = []

    @Flag(help: "Touch and check every page of the mapping against the files; exit status 1 on a mismatch.")
    var verify = false

    @Option(defaultAsFlag: HoldTime.untilReleased, parsing: .next, help: ArgumentHelp(
        "Keep the overlay until SIGINT, SIGTERM, SIGHUP or the end of standard input, at most SECONDS if given.",
        valueName: "seconds"))
    var hold: HoldTime? = nil

    @Option(help: ArgumentHelp("The module's device.", valueName: "path"))
    var device: String = OverlayDevice.defaultPath.string

    func validate() throws {
        try Self.validate(diffs: diffs, segmentsFor: segmentsFor)
        if let limit = hold?.limit, limit <= .zero {
            throw ValidationError("--hold SECONDS must be more than 0: give --hold alone to hold until released")
        }
    }

    /// The checks `restore` and `flatten` share: 1 to 255 diffs, and every
    /// `--segments-for` naming one of them, once.
    static func validate(diffs: [String], segmentsFor: [LayerSegments]) throws {
        guard !diffs.isEmpty else { throw ValidationError("give at least one DIFF") }
        guard diffs.count <= Layer.maximumCount else {
            throw ValidationError("\(diffs.count) diffs: at most \(Layer.maximumCount) in one request")
        }
        var named = Set<String>()
        for given in segmentsFor {
            guard diffs.contains(given.diff) else {
                throw ValidationError("--segments-for \(given.diff)=...: \(given.diff) is not among the diffs")
            }
            guard named.insert(given.diff).inserted else {
                throw ValidationError("--segments-for \(given.diff) is given twice")
            }
        }
    }

    func run() throws {
        do {
            try restore()
        } catch {
            throw error.report(from: Self.self)
        }
    }

    private func restore() throws(ToolFailure) {
        let chain = try ChainInput(basePath: base, diffPaths: diffs, segmentsFor: segmentsFor)
        let baseMapping = try ApplyCommand.map(base, protection: [.read, .write])
        let overlayDevice = try ApplyCommand.openDevice(device)
        let clock = ContinuousClock()
        let start = clock.now
        let created: Overlay
        do {
            created = try overlayDevice.stack(base: baseMapping, layers: chain.layers)
        } catch {
            throw ToolFailure("restore the chain", error, hint: Self.stackHint(for: error))
        }
        let requestTime = clock.now - start
        Console.line("restored a chain of \(diffs.count) diff\(diffs.count == 1 ? "" : "s") as overlay \(created.id)")
        chain.reportLayers()
        Console.line("  request   \(Units.duration(requestTime)) (one IOCTL_MEM_OVERLAY_STACK_CMD)")
        if verify {
            try Self.check(created.base, against: chain)
        }
        if let hold {
            try OverlayHold.keep(created, for: hold)
        }
    }

    /// `--verify`: every page of `mapping` against the file that serves it.
    static func check(_ mapping: MappedFile, against chain: ChainInput) throws(ToolFailure) {
        let pageSize = MemoryPage.size
        let expected = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { expected.deallocate() }
        let clock = ContinuousClock()
        let start = clock.now
        var checked = 0
        var skipped = 0
        var mismatches: [String] = []
        var mismatchCount = 0
        for (page, layer) in chain.view.servingLayers.enumerated() {
            guard try chain.readComposedPage(page, layer: layer, into: expected) else {
                skipped += 1
                continue
            }
            checked += 1
            let shown = mapping.page(atFilePage: page)
            if memcmp(shown.baseAddress!, expected, pageSize) != 0 {
                mismatchCount += 1
                if mismatches.count < 8 {
                    mismatches.append("page \(page) differs from \(chain.file(ofLayer: layer).name) page \(page)"
                                      + Self.origin(of: UnsafeRawBufferPointer(shown)))
                }
            }
        }
        var line = "  verified  \(checked) pages in \(Units.duration(clock.now - start)): "
            + "\(mismatchCount) mismatch\(mismatchCount == 1 ? "" : "es")"
        if skipped > 0 { line += ", \(skipped) past the end of their layer file not touched" }
        Console.line(line)
        for mismatch in mismatches { Console.line("  mismatch  \(mismatch)") }
        if mismatchCount > mismatches.count { Console.line("  mismatch  ... and \(mismatchCount - mismatches.count) more") }
        guard mismatchCount == 0 else {
            throw ToolFailure("verification failed: \(mismatchCount) of \(checked) pages show the wrong data")
        }
    }

    /// Where a wrong page came from, when its first bytes say so.
    private static func origin(of page: UnsafeRawBufferPointer) -> String {
        guard let origin = PagePattern.origin(of: page) else { return "" }
        return " (it shows page \(origin.page) of stream \(origin.stream))"
    }

    /// What a refusal of the v2 request means for these files (see
    /// docs/abi.md).
    static func stackHint(for error: OverlayError) -> String? {
        switch error {
        case .invalidRequest: "the base is not a file-backed private mapping, a diff is not a regular file, or a segment is wrong"
        case .tooLarge: "too many layers (at most \(Layer.maximumCount)) or segments in one layer"
        case .badLayerDescriptor: "a diff's descriptor is not open"
        case .layerNotReadable: "a diff is not open for reading"
        case .outOfMemory: "the segment tables do not fit (memory cgroup limit?)"
        case .unsupportedRequest: "the module does not know ABI v2 (an older batch-syscalls.ko?)"
        default: nil
        }
    }
}
