// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// Requests by pidfd into processes that were not written for the module:
/// Debian's QEMU, unchanged, and a C stand-in of Firecracker's File memory
/// backend (GuestTests/CPrograms/vmm_standin.c). The orchestrator finds their mapping
/// in /proc/PID/maps and attaches a chain with the library, as
/// `batch-syscalls restore --pid` does.
enum UnmodifiedClientScenarios {
    static var all: [Scenario] { [
        Scenario("remote: an unmodified QEMU (Debian's qemu-system-x86_64, stopped with -S, its RAM a memory-backend-file share=off over a base image) gets a chain of diffs by pidfd; its own monitor's pmemsave dumps guest memory equal to the flattened chain",
                 qemu),
        Scenario("remote: an unmodified C process mapping a snapshot like Firecracker's File backend (MAP_PRIVATE | MAP_NORESERVE) gets a chain by pidfd while its threads read: each page base or chain, then all chain; a balloon discard after it reads zero, the rest intact",
                 standin),
    ] }

    /// The guest's RAM: 32 MiB, 8192 pages.
    static let ramPages = 8192
    static let diffCount = 10

    /// The pages of guest-physical memory that `-machine pc` maps straight
    /// to the same offsets of its RAM: conventional memory (below the VGA
    /// window at 0xA0000) and everything from 1 MiB up.
    static var straightPages: [Range<Int>] { [0..<(0xA0000 / pageSize), (0x100000 / pageSize)..<ramPages] }

    /// A chain over a base image (ChainGenerator: `diffs` sparse diffs whose
    /// dirty pages overlap) in `directory`, and the view it composes.
    struct Chain {
        let generator: ChainGenerator
        let view: ExpectedView
        let diffs: [FileDescriptor]

        static func write(directory: String, pages: Int, diffs: Int) throws -> Chain {
            let generator = ChainGenerator(directory: FilePath(directory), pages: pages, diffs: diffs, seed: 1)
            try generator.write()
            var view = ExpectedView(base: try FileImage.onDemand(generator.basePath.string, name: "chain base"))
            var descriptors: [FileDescriptor] = []
            for (index, path) in generator.diffPaths.enumerated() {
                let fd = open(path.string, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw SysError("open \(path)") }
                descriptors.append(FileDescriptor(rawValue: fd))
                view.overlay(try FileImage.onDemand(fd: fd, name: "diff \(index + 1)"),
                             ChainGenerator.dirtyPages(ofDiff: index + 1, pages: pages))
            }
            return Chain(generator: generator, view: view, diffs: descriptors)
        }

        var layers: [Layer] { diffs.map { .dataExtents(of: $0) } }

        /// Closes the diffs and removes the files.
        func remove() {
            diffs.forEach { try? $0.close() }
            unlink(generator.basePath.string)
            generator.diffPaths.forEach { unlink($0.string) }
            rmdir(generator.directory.string)
        }

        /// Page `page` of the flattened chain.
        func flattened(page: Int) throws -> [UInt8] { try Self.read(view.layer(servingPage: page), page: page) }

        /// Page `page` of `image` (read on demand).
        static func read(_ image: FileImage, page: Int) throws -> [UInt8] {
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
            defer { scratch.deallocate() }
            return Array(UnsafeRawBufferPointer(start: try image.page(page, scratch: scratch), count: pageSize))
        }

        /// The pages of `ranges` where `image` differs from the view.
        func mismatches(_ image: FileImage, in ranges: [Range<Int>]) throws -> [Int] {
            try ranges.flatMap { range in
                try range.filter { page in try Self.read(image, page: page) != flattened(page: page) }
            }
        }
    }

    /// Page numbers, runs folded: "3, 10-12".
    static func describe(_ pages: [Int], limit: Int = 40) -> String {
        var runs: [ClosedRange<Int>] = []
        for page in pages {
            if let last = runs.last, last.upperBound + 1 == page { runs[runs.count - 1] = last.lowerBound...page }
            else { runs.append(page...page) }
        }
        let text = runs.prefix(limit).map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        return text.joined(separator: ", ") + (runs.count > limit ? ", ..." : "")
    }

    // MARK: QEMU

    /// QEMU starts stopped (-S: no guest instruction runs, so nothing
    /// writes guest RAM), its RAM a private mapping of the base image.
    /// The scenario finds that mapping in /proc/PID/maps, attaches the
    /// chain by pidfd, then asks QEMU's own monitor (QMP pmemsave) to dump
    /// guest memory: QEMU reads its RAM through its mapping, the overlaid
    /// one. The dump must equal the flattened chain in every page that
    /// guest-physical addresses map straight to; QEMU then quits cleanly
    /// and its overlay goes with its mapping.
    static func qemu() throws {
        try withDevice { device in
            let cwd = ExternalProgram.workingDirectory
            let chain = try Chain.write(directory: cwd + "/qemu-chain", pages: ramPages, diffs: diffCount)
            defer { chain.remove() }
            let dumpPath = cwd + "/qemu-pmemsave.bin"
            defer { unlink(dumpPath) }
            let before = Set(try LiveOverlay.all().map(\.id))
            guard let qemu = try QEMUGuest.start(ramImage: chain.generator.basePath.string, pages: ramPages) else {
                throw SkipScenario("no qemu-system-x86_64 in the working directory or on PATH (vm/test ships Debian's)")
            }
            Log.note("QEMU: \(qemu.monitor.greeting)")
            let start = Stopwatch.now()
            let overlay = try device.stack(in: qemu.target, at: qemu.ram.start, layers: chain.layers)
            let attachMicroseconds = (Stopwatch.now() - start) / 1000
            Log.note("attached \(diffCount) diffs over QEMU's 32 MiB RAM (pid \(qemu.process.id), \(hex(qemu.ram.start))) in \(attachMicroseconds) us")
            let listed = try LiveOverlay.all().filter { $0.id == overlay.id }
            expect(listed.count == 1 && listed[0].targetProcessID == Int(qemu.process.id),
                   "the listing shows the overlay once, target=\(qemu.process.id): \(listed.map(\.targetProcessID))")

            let dumpStart = Stopwatch.now()
            let dump = try qemu.dumpMemory(pages: ramPages, to: dumpPath)
            Log.note("pmemsave of 32 MiB took \((Stopwatch.now() - dumpStart) / 1_000_000) ms")
            let mismatching = try chain.mismatches(dump, in: straightPages)
            let checked = straightPages.reduce(0) { $0 + $1.count }
            if expect(mismatching.isEmpty,
                      "\(mismatching.count) of \(checked) pages of QEMU's dump differ from the flattened chain: pages \(describe(mismatching))") {
                Log.note("QEMU's dump equals the flattened chain in all \(checked) straight-mapped pages")
            }
            // The pages the chain changed are in the dump: not a base read.
            let changed = (0x100000 / pageSize..<ramPages).filter { chain.view.layer(servingPage: $0) !== chain.view.base }
            expect(!changed.isEmpty, "the chain changes no page above 1 MiB: the check proves nothing")

            let ending = qemu.quit()
            expect(ending.succeeded, "QEMU after quit: \(ending); its output: \(qemu.output)")
            let after = Set(try LiveOverlay.all().map(\.id))
            expect(after == before, "overlays left after QEMU exited: \(after.subtracting(before).count) new, \(before.subtracting(after).count) gone")
            // The id went with QEMU's mapping: its cleanup finds nothing.
            _ = try? overlay.remove()
        }
    }

    // MARK: The C stand-in of a VMM

    /// GuestTests/CPrograms/vmm_standin.c, unchanged by the module: it maps
    /// the base, reads it, names its mapping on stdout and checks its own
    /// memory (readers during the attach, every page after it, a balloon
    /// discard). The scenario attaches by pidfd at the address it printed,
    /// after checking in /proc/PID/maps that the base is mapped there.
    static func standin() throws {
        try withDevice { device in
            guard let program = ExternalProgram.find("vmm_standin") else {
                throw SkipScenario("no vmm_standin in the working directory or on PATH (vm/test builds and ships it)")
            }
            let pages = 4096
            let cwd = ExternalProgram.workingDirectory
            let chain = try Chain.write(directory: cwd + "/standin-chain", pages: pages, diffs: diffCount)
            defer { chain.remove() }
            // The flattened chain, for the program to compare with.
            let flatPath = cwd + "/standin-flat.bin"
            let flat = open(flatPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if flat < 0 { throw SysError("create \(flatPath)") }
            defer { unlink(flatPath) }
            for page in 0..<pages {
                let bytes = try chain.flattened(page: page)
                let written = bytes.withUnsafeBytes { pwrite(flat, $0.baseAddress!, $0.count, off_t(page * pageSize)) }
                if written != pageSize {
                    close(flat)
                    throw SysError("write \(flatPath) page \(page)")
                }
            }
            close(flat)
            try SystemFiles.dropCaches()

            var input: [CInt] = [-1, -1]
            var output: [CInt] = [-1, -1]
            guard pipe(&input) == 0, pipe(&output) == 0 else { throw SysError("pipe") }
            // Only the ends dup'ed onto its stdin and stdout reach the program.
            for fd in input + output { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            let before = Set(try LiveOverlay.all().map(\.id))
            let discard = (first: 1000, count: 300)
            let process = try ExternalProgram.spawn(
                program, [chain.generator.basePath.string, flatPath, "\(discard.first)", "\(discard.count)"],
                input: input[0], output: output[1])
            close(input[0])
            close(output[1])
            defer {
                close(input[1])
                close(output[0])
                _ = process.waitOrKill(timeout: 10)
            }
            // Its first lines, up to the one naming its mapping.
            var text = ""
            let deadline = Stopwatch.nowSeconds() + 120
            while !text.contains("pages=") || !text.hasSuffix("\n") {
                var buffer = [UInt8](repeating: 0, count: 512)
                var poller = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 100)
                let count = buffer.withUnsafeMutableBytes { read(output[0], $0.baseAddress!, $0.count) }
                if count > 0 { text += String(decoding: buffer[..<count], as: UTF8.self) }
                if count == 0 || Stopwatch.nowSeconds() > deadline {
                    throw TestFailure("vmm_standin did not name its mapping; it wrote: \(text)")
                }
            }
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("pid=") }),
                  let field = line.split(separator: " ").first(where: { $0.hasPrefix("address=0x") }),
                  let address = UInt(field.dropFirst("address=0x".count), radix: 16)
            else { throw TestFailure("vmm_standin's mapping line: \(text)") }
            let target = try TargetProcess(processID: process.id)
            let mapping = try target.mapping(containing: address)
            try require(mapping?.path == chain.generator.basePath.string && mapping?.start == address,
                        "/proc/\(process.id)/maps at 0x\(hex(address)): \(String(describing: mapping))")
            Stopwatch.sleep(seconds: 0.1)
            let start = Stopwatch.now()
            let overlay = try device.stack(in: target, at: address, layers: chain.layers)
            Log.note("attached \(diffCount) diffs over vmm_standin's \(pages) pages (pid \(process.id)) in \((Stopwatch.now() - start) / 1000) us")
            _ = "attached\n".withCString { write(input[1], $0, strlen($0)) }
            let (rest, status) = process.collect(output[0], timeout: 300)
            text += String(decoding: rest, as: UTF8.self)
            for line in text.split(separator: "\n") { Log.note("vmm_standin: \(line)") }
            expect(status?.succeeded == true, "vmm_standin: \(status.map { "\($0)" } ?? "still running after 300 s")")
            let after = Set(try LiveOverlay.all().map(\.id))
            expect(after == before, "overlays left after vmm_standin exited: \(after.subtracting(before).count)")
            _ = try? overlay.remove()
        }
    }
}
