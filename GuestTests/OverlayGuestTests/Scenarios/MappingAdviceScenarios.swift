// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// madvise calls a VMM makes on guest memory that change fork and core
/// dumps (QEMU marks guest RAM MADV_DONTFORK and, for dump-guest-core=off,
/// MADV_DONTDUMP). An overlay is a private file mapping to the kernel, so
/// each call must do on it what it does on a plain private mapping of the
/// same file: the scenario makes every call on both and compares.
enum MappingAdviceScenarios {
    static var all: [Scenario] { [
        Scenario("advice: MADV_DONTFORK, MADV_WIPEONFORK and MADV_DONTDUMP on a fleet restore do what they do on a plain private mapping of base.bin: no mapping in the child, EINVAL, dd in VmFlags; MADV_DOFORK and MADV_DODUMP undo them; views, cleanup and exit right",
                 forkAndDumpAdvice),
    ] }

    // <asm-generic/mman-common.h>
    static let dontFork: Int32 = 10, doFork: Int32 = 11, dontDump: Int32 = 16, doDump: Int32 = 17
    static let wipeOnFork: Int32 = 18

    /// A mapping of the scenario and what it shows.
    struct Subject {
        let label: String
        let mapping: MappedFile
        var view: ExpectedView
    }

    static func forkAndDumpAdvice() throws {
        try withDevice { device in
            let data = try TestData.load()
            let diff = try FleetScenarios.ownDiff("advice-diff", pages: data.base.pageCount, runs: 12, stream: 1300)
            defer { diff.close() }
            let stats = try ModuleStats.read()
            // Unmapped at the end (the scenario's process exits on a throw).
            let restored = try MappedFile.map(DataFile.base.name, name: "restore", protection: PROT_READ | PROT_WRITE)
            let plain = try MappedFile.map(DataFile.base.name, name: "plain mapping of base.bin", protection: PROT_READ | PROT_WRITE)
            defer { plain.unmap() }
            let id = try device.stack(RawStackRequest(baseAddress: restored.address, layers: [diff.raw()]), "restore")
            let during = try ModuleStats.read()
            var subjects = [Subject(label: "restore", mapping: restored, view: ExpectedView(base: data.base).overlaid(diff.image, diff.data)),
                            Subject(label: "plain mapping", mapping: plain, view: ExpectedView(base: data.base))]
            // Own pages copied and not, base pages, and a page written privately.
            let own = diff.dataPages.pages
            restored.touch(own.prefix(own.count / 2))
            let ownSet = Set(own)
            let writtenPage = (0..<data.base.pageCount).first { !ownSet.contains($0) && $0 > 100 }!
            for index in subjects.indices {
                var bytes = [UInt8](repeating: 0x6B, count: pageSize)
                bytes[1] = UInt8(index)
                try require(subjects[index].mapping.write(filePage: writtenPage, bytes: bytes) == 0, "write page \(writtenPage)")
                subjects[index].view.write(page: writtenPage, bytes: bytes, what: "private write")
            }

            /// madvise(`advice`) on both mappings: the same result on each.
            func adviseBoth(_ advice: Int32, _ name: String, want: Int32) {
                for subject in subjects {
                    let result = madvise(subject.mapping.address, subject.mapping.length, advice) == 0 ? 0 : errno
                    expect(result == want, "\(subject.label): \(name): \(Errno.describe(result)), want \(Errno.describe(want))")
                }
            }
            func expectDumpFlag(_ set: Bool, _ when: String) {
                for subject in subjects {
                    let flags = ProcessMaps.vmFlags(subject.mapping.address)
                    expect(flags?.contains("dd") == set,
                           "\(subject.label) \(when): VmFlags \(flags.map { $0.sorted().joined(separator: " ") } ?? "missing"), want dd \(set ? "set" : "clear")")
                }
            }

            expectDumpFlag(false, "at first")
            adviseBoth(wipeOnFork, "MADV_WIPEONFORK (anonymous private memory only)", want: EINVAL)
            adviseBoth(dontDump, "MADV_DONTDUMP", want: 0)
            expectDumpFlag(true, "after MADV_DONTDUMP")
            adviseBoth(doDump, "MADV_DODUMP", want: 0)
            expectDumpFlag(false, "after MADV_DODUMP")

            adviseBoth(dontFork, "MADV_DONTFORK", want: 0)
            let bare = ChildProcess.spawn("child after MADV_DONTFORK") {
                for subject in subjects {
                    expect(ProcessMaps.unmapped(subject.mapping.address, length: subject.mapping.length),
                           "\(subject.label): the child has memory at the parent's mapping (mincore: \(Errno.current))")
                    expect(!ProcessMaps.lists(subject.mapping.address), "\(subject.label): the child's /proc/self/maps lists it")
                }
            }
            bare.expectSuccess("child after MADV_DONTFORK")
            for subject in subjects { verifyPages(subject.mapping, subject.view, label: "\(subject.label) after a DONTFORK child left") }
            let afterBare = try ModuleStats.await(during)
            expect(afterBare == during, "stats after the DONTFORK child left: \(afterBare), want \(during)")

            adviseBoth(doFork, "MADV_DOFORK", want: 0)
            let heir = ChildProcess.spawn("child after MADV_DOFORK") {
                for subject in subjects { verifyPages(subject.mapping, subject.view, label: "\(subject.label) in the child after MADV_DOFORK") }
            }
            heir.expectSuccess("child after MADV_DOFORK")
            for subject in subjects { verifyPages(subject.mapping, subject.view, label: "\(subject.label) after a DOFORK child left") }
            expectErrno(try device.cleanup(id), 0, "cleanup")
            restored.unmap()
            let after = try ModuleStats.await(stats)
            expect(after == stats, "stats after the restore's unmap: \(after), want \(stats)")
        }
    }
}
