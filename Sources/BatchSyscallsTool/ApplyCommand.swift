// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// `batch-syscalls apply`: lays segments of an overlay file over a private
/// mapping of a base file with one ioctl, then optionally checks every page
/// and keeps the overlay alive for `inspect`.
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Lay segments of an overlay file over a private mapping of a base file.",
        discussion: """
            Maps the base file private with read-write protection, as a restored \
            VM's memory is mapped (nothing is ever written to it, and writes to \
            a private mapping never reach the file), maps the overlay file, and \
            asks /dev/batch_syscalls to lay the segments over the base mapping. \
            From then on a page of the base mapping at file page offset P shows \
            page P of the overlay file when P lies in a segment, and the base \
            file's page P otherwise. The command prints the overlay's id, the \
            pages of the base file, the segments before and after merging, the \
            pages overlaid and the time the ioctl took.

            SPEC lists file page offsets: pages (7) and inclusive ranges (4-6), \
            separated by commas; unsorted and overlapping ranges are merged. \
            @FILE reads them from a file, one range per line, with blank lines \
            and # comments allowed. A bad SPEC is a usage error (exit status \
            64): nothing is mapped and the module is not asked.

            --verify touches every page of the overlaid mapping and compares \
            it with the page of the file that should serve it, read with \
            pread(2). Pages of a segment past the overlay file's end are not \
            touched (reading them raises SIGBUS, as past the end of any mapped \
            file).

            --hold keeps the process, and with it the overlay, alive after the \
            report, so that `batch-syscalls inspect` can list it. It ends on \
            SIGINT (Ctrl-C), SIGTERM or SIGHUP, unless that signal was ignored \
            when the command started (sh ignores SIGINT in background commands, \
            nohup SIGHUP); on the end of standard input when that is a pipe, a \
            socket or the terminal in the foreground (Ctrl-D), never when it is \
            /dev/null or a file, which end at once (sh starts background \
            commands with /dev/null); and, with --hold SECONDS, after that many \
            seconds. The overlay's id is then cleaned up and the command exits \
            with status 0.

            Exit status: 0 on success, 1 when a step fails (open, map, ioctl) \
            or --verify finds a mismatch, 64 for bad arguments.

            EXAMPLES:
              Overlay pages 0, 4 to 6 and 20 to 21 and check every page:
                batch-syscalls apply --base base.bin --overlay overlay.bin \\
                    --segments 0,4-6,20-21 --verify

              Segments from a file; keep the overlay for 60 s to inspect it:
                batch-syscalls apply --base base.bin --overlay overlay.bin \\
                    --segments @dirty-pages.txt --hold 60 &
                batch-syscalls inspect
            """
    )

    @Option(help: ArgumentHelp(
        "The base file: mapped private with read-write protection, never written.", valueName: "file"))
    var base: String

    @Option(help: ArgumentHelp("The overlay file, whose pages show in the segments.", valueName: "file"))
    var overlay: String

    @Option(help: ArgumentHelp(
        "The file pages the overlay file serves: pages and inclusive ranges ('0,4-6,20-21'), or @FILE.",
        valueName: "spec"),
            transform: { try SegmentSpecification.parse($0) })
    var segments: SegmentList

    @Flag(help: "Touch and check every page of the overlaid mapping against the files; exit status 1 on a mismatch.")
    var verify = false

    @Option(defaultAsFlag: HoldTime.untilReleased, parsing: .next, help: ArgumentHelp(
        "Keep the overlay until SIGINT, SIGTERM, SIGHUP or the end of standard input, at most SECONDS if given.",
        valueName: "seconds"))
    var hold: HoldTime? = nil

    @Option(help: ArgumentHelp("The module's device.", valueName: "path"))
    var device: String = OverlayDevice.defaultPath.string

    func validate() throws {
        if let limit = hold?.limit, limit <= .zero {
            throw ValidationError("--hold SECONDS must be more than 0: give --hold alone to hold until released")
        }
    }

    func run() throws {
        do {
            try apply()
        } catch {
            throw error.report(from: Self.self)
        }
    }

    /// Opens the module's device at `path` (for apply, restore and
    /// flatten); the failure says why (the module is not loaded, or root
    /// only).
    static func openDevice(_ path: String) throws(ToolFailure) -> OverlayDevice {
        do {
            return try OverlayDevice(path: FilePath(path))
        } catch {
            throw ToolFailure("open \(path)", error)
        }
    }

    private func apply() throws(ToolFailure) {
        let baseMapping = try Self.map(base, protection: [.read, .write])
        let layerMapping = try Self.map(overlay, protection: .read)
        let overlayDevice = try Self.openDevice(device)

        let clock = ContinuousClock()
        let start = clock.now
        let created: Overlay
        do {
            created = try overlayDevice.overlay(base: baseMapping, layer: layerMapping, segments: segments)
        } catch {
            throw ToolFailure("create the overlay", error, hint: Self.createHint(for: error))
        }
        let ioctlTime = clock.now - start
        report(created, ioctlTime: ioctlTime)

        if verify {
            try check(created)
        }
        if let hold {
            try OverlayHold.keep(created, for: hold)
        }
    }

    /// Prints what was created.
    private func report(_ created: borrowing Overlay, ioctlTime: Duration) {
        let merged = segments.merged
        let basePages = created.base.filePages
        let layerPages = created.layer?.pageCount ?? 0
        var overlaid = 0
        var pastLayerEnd = 0
        var segmentPages = 0
        for range in merged {
            segmentPages += range.count
            let shown = max(range.lowerBound, basePages.lowerBound)..<min(range.upperBound + 1, basePages.upperBound)
            guard !shown.isEmpty else { continue }
            overlaid += shown.count
            pastLayerEnd += max(0, shown.upperBound - max(shown.lowerBound, layerPages))
        }
        Console.line("created overlay \(created.id)")
        Console.line("  base      \(base): \(basePages.count) pages, mapped private read-write")
        Console.line("  overlay   \(overlay): \(layerPages) pages")
        Console.line("  segments  \(segments.count) given, \(merged.count) after merging")
        var overlaidLine = "  overlaid  \(overlaid) of \(basePages.count) pages"
        if segmentPages > overlaid {
            overlaidLine += "; \(segmentPages - overlaid) segment pages lie past the end of \(base)"
        }
        Console.line(overlaidLine)
        if pastLayerEnd > 0 {
            Console.line("  warning   \(pastLayerEnd) overlaid pages lie past the end of \(overlay): "
                         + "reading them raises SIGBUS")
        }
        Console.line("  ioctl     \(Units.duration(ioctlTime))")
    }

    /// `--verify`: every page against the files.
    private func check(_ created: borrowing Overlay) throws(ToolFailure) {
        let verifier = OverlayVerifier(basePath: FilePath(base), overlayPath: FilePath(overlay), segments: segments)
        let clock = ContinuousClock()
        let start = clock.now
        let result: OverlayVerifier.Report
        do {
            result = try verifier.verify(created.base)
        } catch {
            throw ToolFailure("verify: read \(base) or \(overlay)", error)
        }
        let elapsed = clock.now - start
        var line = "  verified  \(result.pagesChecked) pages in \(Units.duration(elapsed)): "
            + "\(result.overlayPages) from \(overlay), \(result.pagesChecked - result.overlayPages) from \(base), "
            + "\(result.mismatchCount) mismatch\(result.mismatchCount == 1 ? "" : "es")"
        if result.pagesPastOverlayEnd > 0 {
            line += ", \(result.pagesPastOverlayEnd) past the end of \(overlay) not touched"
        }
        Console.line(line)
        for mismatch in result.mismatches {
            Console.line("  mismatch  \(mismatch)")
        }
        if result.mismatchCount > result.mismatches.count {
            Console.line("  mismatch  ... and \(result.mismatchCount - result.mismatches.count) more")
        }
        guard result.passed else {
            throw ToolFailure("verification failed: \(result.mismatchCount) of \(result.pagesChecked) pages "
                              + "show the wrong data")
        }
    }

    /// Maps a whole file private; `protection` includes writing only for the
    /// base, which must look like a restored VM's memory.
    static func map(_ path: String, protection: MappedFile.Protection) throws(ToolFailure) -> MappedFile {
        let descriptor: FileDescriptor
        do {
            descriptor = try Errno.rethrowing { try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) }
        } catch {
            throw ToolFailure("open \(path)", error)
        }
        defer { try? descriptor.close() }
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else { throw ToolFailure("stat \(path)", Errno(rawValue: errno)) }
        // mmap would refuse these with a bare ENODEV or EINVAL: say why.
        guard info.st_mode & S_IFMT == S_IFREG else { throw ToolFailure("map \(path): not a regular file") }
        guard info.st_size > 0 else { throw ToolFailure("map \(path): the file is empty") }
        do {
            return try MappedFile(fileDescriptor: descriptor, name: path, protection: protection, sharing: .private)
        } catch {
            throw ToolFailure("map \(path)", error)
        }
    }

    /// What a refusal of the create request means for these files (see
    /// docs/abi.md).
    private static func createHint(for error: OverlayError) -> String? {
        switch error {
        case .invalidRequest: "the base is not a file-backed private mapping, or a segment is wrong"
        case .tooLarge: "too many segments (at most \(SegmentList.maximumCount)) or layers"
        case .outOfMemory: "the segment table does not fit (memory cgroup limit?)"
        case .other(.tooManySymbolicLinkLevels): "overlay files nested more than three deep as layers"
        case .unsupportedRequest: "the device is not /dev/batch_syscalls, or the caller is 32-bit"
        default: nil
        }
    }
}
