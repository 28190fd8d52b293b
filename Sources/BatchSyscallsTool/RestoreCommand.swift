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
            found by the filesystem's extent map (FIEMAP), else with SEEK_DATA and \
            SEEK_HOLE; a page partly data counts as data, preallocated blocks never \
            written as holes), so sparse diff files need no segment list. --segments-for \
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

            --loading-set FILE (a loading-set file written by `record`) names the \
            pages the restore will touch first: the module starts reading them from \
            the layer serving each once the chain is laid, without the request \
            waiting; --populate also maps them before the request returns, so \
            touching them takes no fault. A file that is not a valid loading-set \
            file (truncated, corrupt, written for another page size) is refused \
            with exit status 64 before anything is laid.

            INTO ANOTHER PROCESS:
              --pid PID lays the chain over a mapping of process PID instead (a VMM \
            whose guest memory is a private mapping of the base snapshot, paused or \
            running; it need not know the module): the mapping of the base file that \
            /proc/PID/maps lists (--mapping PATH when PID maps it under another \
            name), or the one at --address ADDR. The request needs what \
            process_vm_writev(2) needs: the kernel's ptrace check of PID must allow \
            writing its memory (same user, or CAP_SYS_PTRACE; Yama may refuse). The \
            id is this process's; the overlay lives until PID unmaps the range or \
            exits. --verify reads PID's pages through /proc/PID/mem.

                qemu-system-x86_64 -S -object memory-backend-file,id=ram,size=1G,\\
                    mem-path=snap/base.mem,share=off -machine q35,memory-backend=ram ... &
                batch-syscalls restore --pid $! --base snap/base.mem snap/diff-*.mem --verify
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

    @Option(help: ArgumentHelp(
        "Lay the chain over a mapping of this process instead (its mapping of the base file, or --address, --mapping).",
        valueName: "pid"))
    var pid: Int32?

    @Option(help: ArgumentHelp("With --pid: an address inside the mapping to overlay (0x... or decimal).",
                               valueName: "address"),
            transform: RestoreCommand.parseAddress)
    var address: UInt?

    @Option(help: ArgumentHelp("With --pid: the path under which the process maps the base file (default: --base).",
                               valueName: "path"))
    var mapping: String?

    @Option(name: .customLong("loading-set"), help: ArgumentHelp(
        "A loading-set file (from `record`): the pages the module reads ahead, from the layer serving each.",
        valueName: "file"))
    var loadingSet: String?

    @Flag(help: "With --loading-set: map the loading set's pages before the request returns (MEM_OVERLAY_STACK_POPULATE).")
    var populate = false

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
        if pid == nil && (address != nil || mapping != nil) {
            throw ValidationError("--address and --mapping name a mapping of another process: give --pid too")
        }
        if populate && loadingSet == nil {
            throw ValidationError("--populate maps the loading set's pages: give --loading-set too")
        }
        if address != nil && mapping != nil {
            throw ValidationError("give --address or --mapping, not both")
        }
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
        // Before anything is opened: a bad file lays nothing.
        let set = try loadingSet.map { path throws(ToolFailure) in try Self.readLoadingSet(path) }
        let chain = try ChainInput(basePath: base, diffPaths: diffs, segmentsFor: segmentsFor)
        if let pid {
            try restore(into: pid, chain, loadingSet: set)
            return
        }
        let baseMapping = try ApplyCommand.map(base, protection: [.read, .write])
        let overlayDevice = try ApplyCommand.openDevice(device)
        let clock = ContinuousClock()
        let start = clock.now
        let created: Overlay
        do {
            created = try overlayDevice.stack(base: baseMapping, layers: chain.layers, loadingSet: set,
                                              populate: populate)
        } catch {
            throw ToolFailure("restore the chain", error, hint: Self.stackHint(for: error))
        }
        let requestTime = clock.now - start
        Console.line("restored a chain of \(diffs.count) diff\(diffs.count == 1 ? "" : "s") "
                     + "at 0x\(String(UInt(bitPattern: baseMapping.address), radix: 16)) as overlay \(created.id)")
        chain.reportLayers()
        reportLoadingSet(set)
        Console.line("  request   \(Units.duration(requestTime)) (one IOCTL_MEM_OVERLAY_STACK_CMD)")
        if verify {
            try Self.check(created.base, against: chain)
        }
        if let hold {
            try OverlayHold.keep(created, for: hold)
        }
    }

    /// `--pid`: the chain over a mapping of process `pid`.
    private func restore(into pid: Int32, _ chain: ChainInput, loadingSet set: LoadingSet?) throws(ToolFailure) {
        let (target, found) = try Self.openMapping(of: pid, at: address, path: mapping ?? base)
        let overlayDevice = try ApplyCommand.openDevice(device)
        let clock = ContinuousClock()
        let start = clock.now
        let created: ProcessOverlay
        do {
            created = try overlayDevice.stack(in: target, at: address ?? found.start, layers: chain.layers,
                                              loadingSet: set, populate: populate)
        } catch {
            throw ToolFailure("restore the chain into process \(pid)", error, hint: Self.stackHint(for: error))
        }
        let requestTime = clock.now - start
        Console.line("restored a chain of \(diffs.count) diff\(diffs.count == 1 ? "" : "s") into process \(pid) "
                     + "at 0x\(String(found.start, radix: 16)) as overlay \(created.id)")
        chain.reportLayers()
        reportLoadingSet(set)
        Console.line("  request   \(Units.duration(requestTime)) (one IOCTL_MEM_OVERLAY_STACK_CMD, MEM_OVERLAY_STACK_PIDFD)")
        if verify {
            let memory: FileDescriptor
            do {
                memory = try Errno.rethrowing {
                    try FileDescriptor.open(FilePath("/proc/\(pid)/mem"), .readOnly, options: .closeOnExec)
                }
            } catch {
                throw ToolFailure("verify: open /proc/\(pid)/mem", error)
            }
            defer { try? memory.close() }
            let page = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryPage.size, alignment: MemoryPage.size)
            defer { page.deallocate() }
            try Self.check(against: chain) { filePage in
                guard let at = found.address(ofFileOffset: UInt(filePage * MemoryPage.size)),
                      (try? memory.read(fromAbsoluteOffset: Int64(at), into: page)) == page.count
                else { return nil }
                return UnsafeRawBufferPointer(page)
            }
        }
        if let hold {
            try OverlayHold.keep(created, for: hold)
        }
    }

    /// `--loading-set`: the file's set; a file that cannot be read or is
    /// not a valid loading-set file is bad input (exit status 64).
    static func readLoadingSet(_ path: String) throws(ToolFailure) -> LoadingSet {
        do {
            return try LoadingSet(contentsOf: FilePath(path))
        } catch {
            throw ToolFailure("--loading-set \(path): \(error)", exitCode: .validationFailure)
        }
    }

    /// The loading set's line of the report.
    private func reportLoadingSet(_ set: LoadingSet?) {
        guard let set else { return }
        Console.line("  loading   \(set.ranges.count) range\(set.ranges.count == 1 ? "" : "s"), \(set.pageCount) pages "
                     + (populate ? "read ahead and mapped (MEM_OVERLAY_STACK_POPULATE)" : "read ahead")
                     + " from \(loadingSet ?? "")")
    }

    /// Process `pid` and its mapping containing `address`, or else its
    /// first mapping of the file at `path`.
    static func openMapping(of pid: Int32, at address: UInt?,
                            path: String) throws(ToolFailure) -> (TargetProcess, TargetProcess.Mapping) {
        let target: TargetProcess
        do {
            target = try TargetProcess(processID: pid)
        } catch {
            throw ToolFailure("open process \(pid) (pidfd_open)", error)
        }
        let found: TargetProcess.Mapping?
        do {
            if let address {
                found = try target.mapping(containing: address)
            } else {
                found = try target.mapping(of: absolute(path))
            }
        } catch {
            throw ToolFailure("read /proc/\(pid)/maps", error)
        }
        guard let found else {
            throw ToolFailure("process \(pid) has no mapping "
                              + (address.map { "at 0x\(String($0, radix: 16))" } ?? "of \(path)"))
        }
        return (target, found)
    }

    /// `--address`: `0x...` or decimal.
    static func parseAddress(_ text: String) throws -> UInt {
        guard let value = text.hasPrefix("0x") ? UInt(text.dropFirst(2), radix: 16) : UInt(text) else {
            throw ValidationError("--address \(text): not an address")
        }
        return value
    }

    /// `path` made absolute against the working directory, as
    /// /proc/PID/maps names files.
    static func absolute(_ path: String) -> FilePath {
        let path = FilePath(path)
        guard !path.isAbsolute else { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let directory = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "/"
        return FilePath(directory).pushing(path)
    }

    /// `--verify`: every page of `mapping` against the file that serves it.
    static func check(_ mapping: MappedFile, against chain: ChainInput) throws(ToolFailure) {
        try check(against: chain) { page in UnsafeRawBufferPointer(mapping.page(atFilePage: page)) }
    }

    /// `--verify`: every page `shown` gives (nil: cannot be read) against
    /// the file that serves it.
    static func check(against chain: ChainInput,
                      _ shown: (Int) -> UnsafeRawBufferPointer?) throws(ToolFailure) {
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
            guard let page = shown(page).map({ ($0, page) }) else {
                mismatchCount += 1
                if mismatches.count < 8 { mismatches.append("page \(page) could not be read") }
                continue
            }
            if memcmp(page.0.baseAddress!, expected, pageSize) != 0 {
                mismatchCount += 1
                if mismatches.count < 8 {
                    mismatches.append("page \(page.1) differs from \(chain.file(ofLayer: layer).name) page \(page.1)"
                                      + Self.origin(of: page.0))
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
        case .invalidRequest: "the base is not a file-backed private mapping, a diff is not a regular file, a segment is wrong, or --populate has an empty loading set"
        case .tooLarge: "too many layers (at most \(Layer.maximumCount)) or segments in one layer"
        case .badLayerDescriptor: "a diff's descriptor is not open"
        case .layerNotReadable: "a diff is not open for reading"
        case .outOfMemory: "the segment tables do not fit (memory cgroup limit?)"
        case .unsupportedRequest: "the module does not know ABI v2 (an older batch-syscalls.ko?)"
        case .processNotWritable: "the kernel's ptrace check refuses it (another user's process needs CAP_SYS_PTRACE; Yama's ptrace_scope may refuse even that)"
        case .processGone: "the process exited"
        default: nil
        }
    }
}
