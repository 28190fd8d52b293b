// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_fork: an overlaid mapping inherited by child processes.
import Glibc
import SeedProgramSupport

/// fork copies the overlaid mapping like any private file mapping: the
/// children must see what the parent sees, whoever touches a page first,
/// and either side may unmap or exit first.
struct PageFaultFork {
    let run: SeedRun
    let children: Int
    let segments = SeedSegments.example
    var report: TAPReporter { run.report }
    var verifier: OverlayVerifier { run.data.verifier(segments: segments) }

    func main() -> Never {
        childrenFirst()
        parentUnmapsFirst()
        run.finish()
    }

    /// Children forked before anyone touched the mapping take its first
    /// faults, all at once and while the parent reads too; they exit before
    /// the parent cleans up.
    func childrenFirst() {
        let label = "children first"
        guard let overlay = makeOverlay(label) else { return }
        // The children wait at the gate until the parent closes its end.
        let gate: EventPipe
        do {
            gate = try EventPipe()
        } catch {
            report.fail("\(label): pipe: \(error)")
            return
        }
        var spawned: [(index: Int, child: ChildProcess)] = []
        for index in 1...children {
            do {
                let mapping = overlay.base
                let child = try ChildProcess.fork(closing: [gate.writeEnd]) {
                    _ = gate.receive(timeout: 600)
                    return verifyInChild(mapping, "child \(index)")
                }
                spawned.append((index, child))
            } catch {
                report.fail("\(label): fork of child \(index): \(error)")
            }
        }
        gate.closeWrite()
        report.verify(overlay.base, with: verifier, "\(label): the parent's mapping shows the right file "
                      + "while \(spawned.count) children read theirs")
        gate.closeRead()
        for (index, child) in spawned {
            let status = child.waitOrKill(timeout: 120)
            report.check(status.succeeded, "\(label): child \(index) saw the right file on every page of the "
                         + "inherited mapping and exited", why: "\(status)")
        }
        report.remove("\(label): cleanup of id \(overlay.id) after the children exited", overlay)
    }

    /// The parent reads, forks a child, cleans the id up and unmaps; only
    /// then does the child, holding the overlay's last mapping, read it and
    /// exit (which frees the overlay).
    func parentUnmapsFirst() {
        let label = "parent unmaps first"
        guard let (child, gate, addresses) = forkAndUnmap(label) else { return }
        defer { gate.closeRead() }
        do {
            let left = try ProcessMaps.vmaCount(in: addresses)
            report.check(left == 0, "\(label): the parent's base mapping is gone",
                         why: "\(left) VMAs left in its range")
        } catch {
            report.fail("\(label): reading /proc/self/maps: \(error)")
        }
        gate.closeWrite()
        let status = child.waitOrKill(timeout: 120)
        report.check(status.succeeded, "\(label): the child saw the right file on every page after the "
                     + "parent's munmap, and exited", why: "\(status)")
    }

    /// Makes an overlay, reads it, forks a child waiting at a gate, then
    /// cleans up and unmaps (the overlay is released on return).
    func forkAndUnmap(_ label: String) -> (ChildProcess, EventPipe, Range<UInt>)? {
        guard let overlay = makeOverlay(label) else { return nil }
        report.verify(overlay.base, with: verifier, "\(label): the parent's mapping shows the right file")
        let start = UInt(bitPattern: overlay.base.address)
        let addresses = start..<(start + UInt(overlay.base.length))
        do {
            let gate = try EventPipe()
            let mapping = overlay.base
            let child = try ChildProcess.fork(closing: [gate.writeEnd]) {
                _ = gate.receive(timeout: 600)
                return verifyInChild(mapping, "child")
            }
            let id = overlay.id
            try overlay.remove()
            report.pass("\(label): the parent cleaned id \(id) up while the child lives")
            return (child, gate, addresses)
        } catch {
            report.fail("\(label): pipe, fork or cleanup: \(error)")
            return nil
        }
    }

    /// In a child: verifies the inherited mapping; the exit status says
    /// whether it was right, notes say where it was not.
    func verifyInChild(_ mapping: MappedFile, _ name: String) -> CInt {
        do {
            let result = try verifier.verify(mapping)
            for mismatch in result.mismatches { report.diagnostic("\(name) (pid \(getpid())): \(mismatch)") }
            return result.passed && result.pagesChecked > 0 ? 0 : 1
        } catch {
            report.diagnostic("\(name) (pid \(getpid())): reading the data files: \(error)")
            return 1
        }
    }

    func makeOverlay(_ label: String) -> Overlay? {
        do {
            let base = try run.data.map(.base)
            let overlay = try run.device.overlay(base: base, layer: try run.data.map(.overlay), segments: segments)
            report.pass("\(label): overlay of segments \(SeedSegments.describe(segments)) over base.bin "
                        + "(\(base.pageCount) pages), id \(overlay.id)")
            return overlay
        } catch {
            report.fail("\(label): overlay over base.bin: \(error)")
            return nil
        }
    }
}

/// `page_fault_fork`: its options and help; the checks are ``PageFaultFork``'s.
@main
struct PageFaultForkCommand: SeedProgram {
    static let abstract = "An overlaid mapping inherited by child processes."
    static let details = """
        Lays the seed's example segments of overlay.bin over a private mapping \
        of base.bin, then forks N children before any page is touched: they \
        and the parent read every page at the same time and compare it with \
        the files; the children exit, then the parent cleans up. Then, on a \
        new overlay, the parent reads it, forks a child, cleans the id up and \
        unmaps; only then does the child check its inherited mapping and exit. \
        Needs the module loaded and root.
        """

    @OptionGroup var common: SeedOptions
    @Option(help: ArgumentHelp("Children forked at once.", valueName: "n"), transform: SeedOptions.count)
    var children = 4

    func check(_ run: SeedRun) -> Never { PageFaultFork(run: run, children: children).main() }
}
