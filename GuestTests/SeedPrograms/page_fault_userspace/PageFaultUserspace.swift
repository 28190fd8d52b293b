// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_userspace: the composition without the module, one
// mmap(MAP_FIXED) per segment, next to the module's one ioctl.
import Glibc
import SeedProgramSupport

/// A composition to build both ways.
struct Composition {
    let name: String
    let segments: SegmentList
    var label: String { "\(name) (\(segments.count) segments)" }
}

/// A composition built one way: the mapping, the system calls it took, the
/// best setup time and the VMA count. `overlay` holds the module's overlay,
/// when the module built it.
struct Built: ~Copyable {
    let mapping: MappedFile
    var overlay: Overlay?
    let calls: Int
    var nanoseconds: UInt64
    let vmas: Int
}

/// Composes base.bin and overlay.bin in userspace (mmap the base file, then
/// one mmap(MAP_FIXED | MAP_PRIVATE) of the overlay file per segment) and
/// checks every page, as the module's users did before it; with the module,
/// makes the same composition with one ioctl and checks that both show the
/// same bytes, printing setup time and VMA count side by side.
struct PageFaultUserspace {
    let run: SeedRun
    let runLength: Int
    let repeats: Int
    var report: TAPReporter { run.report }

    func main() -> Never {
        if let reason = run.deviceUnavailableReason {
            report.skip("module half (one ioctl, one VMA)", because: reason)
        }
        let pages: Int
        do {
            pages = try run.data.pageCount(.base)
        } catch {
            report.fail("stat base.bin: \(error)")
            run.finish()
        }
        compare(Composition(name: "seed example", segments: SeedSegments.example))
        let zebra = SeedSegments.zebra(pages: pages, run: runLength)
        compare(Composition(name: "zebra, runs of \(runLength)", segments: zebra))
        run.finish()
    }

    func compare(_ composition: Composition) {
        let label = composition.label
        let verifier = run.data.verifier(segments: composition.segments)
        let userspace: Built
        do {
            userspace = try best { () throws(Errno) in try buildInUserspace(composition) }
        } catch {
            report.fail("userspace, \(label): \(error)")
            return
        }
        report.pass("userspace, \(label): \(userspace.calls) mmap(MAP_FIXED) calls over base.bin")
        report.verify(userspace.mapping, with: verifier, "userspace, \(label): every page shows the right file")
        report.diagnostic("userspace, \(label): \(userspace.nanoseconds) ns for the mmap(MAP_FIXED) calls "
                    + "(best of \(repeats)), \(userspace.vmas) VMAs")

        guard let device = run.openDevice else { return }
        var module: Built
        do {
            module = try best { () throws(any Error) in try buildWithModule(composition, device: device) }
        } catch {
            report.fail("module, \(label): map or overlay: \(error)")
            return
        }
        report.check(module.vmas == 1, "module, \(label): the overlaid mapping is one VMA", why: "\(module.vmas) VMAs")
        report.verify(module.mapping, with: verifier, "module, \(label): every page shows the right file")
        let same = memcmp(module.mapping.address, userspace.mapping.address, module.mapping.length) == 0
        report.check(same, "\(label): the module's mapping and the userspace composition hold the same bytes")
        report.diagnostic("module, \(label): \(module.nanoseconds) ns for the ioctl (best of \(repeats)), "
                    + "\(module.vmas) VMA; the userspace composition took "
                    + "\(NumberFormat.ratio(userspace.nanoseconds, module.nanoseconds)) the module's time, "
                    + "with \(userspace.vmas) VMAs")
        if let overlay = module.overlay.take() {
            let id = overlay.id
            report.remove("module, \(label): cleanup of id \(id)", overlay)
        }
    }

    /// Builds `repeats` times, each on a fresh mapping (the earlier ones are
    /// released), and keeps the last build with the best time: the first
    /// call of anything in a fresh process, and in a TCG guest, is slow.
    func best<Failure: Error>(_ build: () throws(Failure) -> Built) throws(Failure) -> Built {
        var fastest = UInt64.max
        var last: Built?
        for _ in 0..<repeats {
            last = nil
            let built = try build()
            fastest = Swift.min(fastest, built.nanoseconds)
            last = consume built
        }
        guard var kept = last.take() else { preconditionFailure("repeats is positive") }
        kept.nanoseconds = fastest
        return kept
    }

    /// Maps base.bin and lays the overlay file's segments over it with
    /// mmap(MAP_FIXED); times the mmap calls alone, as the module's ioctl
    /// is timed alone.
    func buildInUserspace(_ composition: Composition) throws(Errno) -> Built {
        let base = try run.data.map(.base)
        let overlay = try Errno.rethrowing {
            try FileDescriptor.open(run.data.path(.overlay), .readOnly, options: .closeOnExec)
        }
        // The mappings keep their own reference to the file.
        defer { try? overlay.close() }
        let (calls, nanoseconds) = try Stopwatch.measure { () throws(Errno) in
            try UserspaceComposition.compose(onto: base, overlay: overlay, segments: composition.segments)
        }
        let vmas = try ProcessMaps.vmaCount(of: base)
        return Built(mapping: base, overlay: nil, calls: calls, nanoseconds: nanoseconds, vmas: vmas)
    }

    /// Maps base.bin and overlay.bin and makes the module's request; times
    /// the ioctl alone. An earlier build's overlay is cleaned up when its
    /// `Built` goes.
    func buildWithModule(_ composition: Composition, device: OverlayDevice) throws -> Built {
        let base = try run.data.map(.base)
        let layer = try run.data.map(.overlay)
        let stopwatch = Stopwatch()
        let overlay = try device.overlay(base: base, layer: layer, segments: composition.segments)
        let nanoseconds = stopwatch.elapsedNanoseconds
        let vmas = try ProcessMaps.vmaCount(of: base)
        return Built(mapping: base, overlay: overlay, calls: 1, nanoseconds: nanoseconds, vmas: vmas)
    }
}

/// `page_fault_userspace`: its options and help; the checks are ``PageFaultUserspace``'s.
@main
struct PageFaultUserspaceCommand: SeedProgram {
    static let abstract = "Composing in userspace, one mmap(MAP_FIXED) per segment, next to the module's one ioctl."
    static let details = """
        The composition the module replaces, done in userspace: maps base.bin \
        (MAP_PRIVATE), then maps overlay.bin over it with one \
        mmap(MAP_FIXED | MAP_PRIVATE) per segment, and checks every page \
        against the files; for the seed's example segments and for zebra \
        fragmentation over the whole file (runs of N pages). Prints the time \
        of the mmap calls and the VMA count (lines of /proc/self/maps in the \
        mapping's range). When /dev/batch_syscalls can be opened, also makes \
        each composition with the module's one ioctl and checks that it is \
        one VMA and shows the same bytes. Runs without the module (then only \
        the userspace half).
        """
    static let deviceNeed: SeedRun.DeviceNeed = .optional

    @OptionGroup var common: SeedOptions
    @Option(name: .customLong("run"),
            help: ArgumentHelp("Zebra composition: runs of N pages alternate between overlay and base.", valueName: "n"),
            transform: SeedOptions.count)
    var runLength = 1
    @Option(name: .customLong("repeat"),
            help: ArgumentHelp("Builds of each composition; the best time counts.", valueName: "r"),
            transform: SeedOptions.count)
    var repeats = 3

    func check(_ run: SeedRun) -> Never {
        PageFaultUserspace(run: run, runLength: runLength, repeats: repeats).main()
    }
}
