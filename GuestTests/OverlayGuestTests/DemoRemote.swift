// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The third part of `demo`: a restore into a process that does not know
/// the module. Debian's QEMU, unchanged and stopped, has its 32 MiB of
/// guest RAM mapped private from a base image; the demo finds that mapping
/// in /proc/PID/maps, lays three sparse diffs over it by pidfd, and shows
/// guest memory as QEMU's own monitor dumps it (QMP pmemsave).
enum DemoRemote {
    static let pages = 8192

    /// Runs the part; returns whether QEMU's view is the chain's (true, with
    /// a note, when there is no QEMU to run).
    static func run(_ device: OverlayDevice) throws -> Bool {
        OutputLine.write("")
        let cwd = ExternalProgram.workingDirectory
        let chain = try UnmodifiedClientScenarios.Chain.write(directory: cwd + "/demo-qemu-\(getpid())", pages: pages,
                                                              diffs: 3)
        defer { chain.remove() }
        let dumpPath = cwd + "/demo-qemu-dump-\(getpid()).bin"
        defer { unlink(dumpPath) }
        guard let qemu = try QEMUGuest.start(ramImage: chain.generator.basePath.string, pages: pages) else {
            OutputLine.write("no qemu-system-x86_64 here: the restore into an unmodified QEMU is left out")
            return true
        }
        OutputLine.write("an unmodified QEMU (pid \(qemu.process.id), stopped with -S): its guest RAM is "
                         + "\(ChainGenerator.baseName), mapped private at 0x\(hex(qemu.ram.start)) (/proc/\(qemu.process.id)/maps)")
        let clock = Stopwatch()
        let overlay = try device.stack(in: qemu.target, at: qemu.ram.start, layers: chain.layers)
        OutputLine.write("one v2 request by pidfd (MEM_OVERLAY_STACK_PIDFD) laid three diffs over it in "
                         + "\(clock.elapsedNanoseconds / 1000) µs: overlay id \(overlay.id)")
        let dump = try qemu.dumpMemory(pages: pages, to: dumpPath)
        // Guest-physical 1 MiB up maps straight to the file's offsets.
        let first = 0x100000 / pageSize
        var shown: [String] = []
        var asExpected = true
        for page in first..<pages {
            let layer = chain.view.layer(servingPage: page)
            let same = try UnmodifiedClientScenarios.Chain.read(dump, page: page) == chain.flattened(page: page)
            if !same { asExpected = false }
            shown.append(same ? layer.name : "NOT the chain")
        }
        let listed = 96
        OutputLine.write("guest-physical pages \(first)..\(first + listed - 1) as QEMU's monitor dumps them (pmemsave), and the layer each shows:")
        DemoCommand.writeRuns(Array(shown.prefix(listed)), firstPage: first, width: 11)
        var counts: [String: Int] = [:]
        for name in shown { counts[name, default: 0] += 1 }
        OutputLine.write("pages \(first)..\(pages - 1): " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", "))
        let ending = qemu.quit()
        if !ending.succeeded { asExpected = false }
        _ = try? overlay.remove()
        OutputLine.write("QEMU: " + (asExpected ? "its memory is the chain's in every page; it quit cleanly (\(ending))"
                                                : "NOT as the model says (QEMU: \(ending))"))
        return asExpected
    }
}
