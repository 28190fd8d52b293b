// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// Memory-failure injection as a VMM's host sees it (`MADV_HWPOISON`,
/// `MADV_SOFT_OFFLINE`, root only, `CONFIG_MEMORY_FAILURE`), and what the
/// kernel left behind: the page table entry (pagemap) and the frame's flags
/// (/proc/kpageflags).
enum MemoryFailure {
    // <asm-generic/mman-common.h>; Glibc's headers may lack the last two.
    static let hardOffline: Int32 = 100  // MADV_HWPOISON
    static let softOffline: Int32 = 101  // MADV_SOFT_OFFLINE

    /// The skip reason vm/test accepts when the kernel's .config agrees.
    static let notConfigured = "kernel config: CONFIG_MEMORY_FAILURE is not set"

    /// Throws `SkipScenario` when the kernel has no memory-failure handling:
    /// vm.memory_failure_recovery exists exactly with CONFIG_MEMORY_FAILURE,
    /// and without it madvise must refuse the advice with EINVAL (checked on
    /// a page of our own, which it then cannot poison).
    static func requireConfigured() throws {
        if SystemFiles.exists("/proc/sys/vm/memory_failure_recovery") {
            // 0 would panic the kernel on the first failure instead of recovering.
            let recovery = SystemFiles.read("/proc/sys/vm/memory_failure_recovery")?.filter { !$0.isWhitespace }
            try require(recovery == "1", "vm.memory_failure_recovery is \(recovery ?? "unreadable"), want 1")
            return
        }
        let probe = try MappedFile.anonymous(pages: 1, fill: 1)
        defer { probe.unmap() }
        let result = madvise(probe.address, pageSize, hardOffline)
        let error = errno
        try require(result != 0 && error == EINVAL,
                    "no vm.memory_failure_recovery, yet madvise(MADV_HWPOISON) says \(result == 0 ? "success" : Errno.describe(error))")
        throw SkipScenario("\(notConfigured) (no /proc/sys/vm/memory_failure_recovery; madvise(MADV_HWPOISON) gives EINVAL)")
    }

    /// Runs `body` with vm.memory_failure_early_kill at 0 (the default): no
    /// process is signalled when a page is poisoned, only the ones that
    /// touch it afterwards. Restored afterwards.
    static func withLateKill<T>(_ body: () throws -> T) throws -> T {
        let knobs = KernelKnobs()
        defer { knobs.restore() }
        try knobs.set("/proc/sys/vm/memory_failure_early_kill", "0")
        return try body()
    }

    /// madvise(`advice`) on file page `filePage` of `mapping`, made by a
    /// forked child (it maps what the caller maps, page table entries
    /// included, for a mapping holding anonymous pages): since 6.x
    /// MADV_HWPOISON injects with MF_ACTION_REQUIRED, and the kernel sends
    /// the injecting process SIGBUS when the page it poisons was dirty (an
    /// anonymous page): the child takes that signal, not the caller.
    /// The child's ending: exit status 0 or madvise's errno, or the signal.
    static func adviseInChild(_ mapping: MappedFile, filePage: Int, _ advice: Int32) -> Ending {
        let address = mapping.pointer(toFilePage: filePage)
        do {
            let child = try ChildProcess.fork {
                signal(SIGBUS, SIG_DFL)
                return madvise(address, pageSize, advice) == 0 ? 0 : errno
            }
            return Ending(child)
        } catch {
            return .other("fork failed: \(error)")
        }
    }

    /// The page table entry of file page `filePage` of `mapping` in this process.
    static func entry(_ mapping: MappedFile, filePage: Int) throws -> PageResidency.Entry {
        try PageResidency.entries(of: mapping.pointer(toFilePage: filePage), pages: 1)[0]
    }

    /// The flags of frame `frame` that decide what memory failure does
    /// with it (/proc/kpageflags, see Documentation/admin-guide/mm/pagemap.rst).
    struct FrameFlags: CustomStringConvertible {
        let raw: UInt64
        var dirty: Bool { raw >> 4 & 1 == 1 }  // KPF_DIRTY
        var lru: Bool { raw >> 5 & 1 == 1 }  // KPF_LRU
        var anonymous: Bool { raw >> 12 & 1 == 1 }  // KPF_ANON
        /// Part of a large folio (KPF_COMPOUND_HEAD or KPF_COMPOUND_TAIL).
        var large: Bool { raw >> 15 & 3 != 0 }
        /// KPF_HWPOISON: soft offline marks the frame it took away too.
        var poisoned: Bool { raw >> 19 & 1 == 1 }

        var description: String {
            [(dirty, "dirty"), (lru, "lru"), (anonymous, "anon"), (large, "large"), (poisoned, "hwpoison")]
                .filter(\.0).map(\.1).joined(separator: ",")
        }
    }

    static func flags(frame: UInt64) throws -> FrameFlags {
        let fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open /proc/kpageflags") }
        defer { close(fd) }
        var flags: UInt64 = 0
        guard pread(fd, &flags, 8, off_t(frame * 8)) == 8 else { throw SysError("read /proc/kpageflags at frame \(frame)") }
        return FrameFlags(raw: flags)
    }

    static func isPoisoned(frame: UInt64) throws -> Bool { try flags(frame: frame).poisoned }

    /// Whether MADV_HWPOISON leaves poison entries where the frame was
    /// mapped (mm/memory-failure.c, hwpoison_user_mappings): yes for an
    /// anonymous page (or a dirty one), and for a clean page of a page cache
    /// that cannot write back (the module's pseudo filesystem); a clean page
    /// of one that can (ext4's) is unmapped and dropped, and the next access
    /// reads it again. A large page-cache folio is split first, and the
    /// split unmaps a file folio from every page table (only anonymous ones
    /// get their entries back): the page is then mapped nowhere, no poison
    /// entry is left, and it is dropped from its cache like a clean one.
    /// (Only LRU folios are unmapped so; memory failure drains the per-CPU
    /// LRU batches first, so a page just faulted in and not yet flagged lru
    /// counts as one.)
    static func leavesPoisonEntries(_ flags: FrameFlags, pageCacheWritesBack: Bool) -> Bool {
        if flags.anonymous { return true }
        if flags.large { return false }
        return flags.dirty || !pageCacheWritesBack
    }

    /// Whether the page at `frame` is file page `filePage` of the file at
    /// `path` in that file's own page cache: it then writes back as the
    /// file's filesystem does (ext4 on the test disk). Found by reading the
    /// page through a plain mapping of the file and comparing frames.
    static func isInPageCache(of path: String, filePage: Int, frame: UInt64) throws -> Bool {
        let plain = try MappedFile.map(path, name: "plain \(path)", firstFilePage: filePage, pages: 1, flags: MAP_SHARED)
        defer { plain.unmap() }
        plain.touch([filePage])
        return try entry(plain, filePage: filePage).frame == frame
    }

    /// How an access to file page `filePage` of `mapping` ends, made in a
    /// forked child without the probe's handler: killed by SIGBUS (the
    /// kernel's memory-failure signal), or the page read and compared with
    /// `expected` (`.matched`/`.differs`). The child inherits the page
    /// tables of a private mapping holding anonymous pages, hwpoison
    /// entries included.
    enum Access: Equatable, CustomStringConvertible {
        case matched, differs, killed(Int32), other(String)

        var description: String {
            switch self {
            case .matched: "the expected data"
            case .differs: "other data"
            case .killed(let signal): "killed by \(signalName(signal))"
            case .other(let what): what
            }
        }

    }

    /// How a child ended: its exit status, or the signal that killed it.
    enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32), killed(Int32), other(String)

        init(_ child: ChildProcess) {
            switch child.waitOrKill(timeout: 60) {
            case .ended(let status) where status.exited: self = .exited(status.exitCode)
            case .ended(let status) where status.signaled: self = .killed(status.signal)
            case let ending: self = .other("\(ending)")
            }
        }

        var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .killed(let signal): "killed by \(signalName(signal))"
            case .other(let what): what
            }
        }
    }

    static func accessInChild(_ mapping: MappedFile, filePage: Int, expected: [UInt8]) -> Access {
        let source = UnsafeRawPointer(mapping.pointer(toFilePage: filePage))
        let child: ChildProcess
        do {
            child = try ChildProcess.fork {
                signal(SIGBUS, SIG_DFL)
                signal(SIGSEGV, SIG_DFL)
                let same = expected.withUnsafeBytes { memcmp(source, $0.baseAddress!, pageSize) == 0 }
                return same ? 0 : 1
            }
        } catch {
            return .other("fork failed: \(error)")
        }
        switch Ending(child) {
        case .exited(let code): return code == 0 ? .matched : .differs
        case .killed(let signal): return .killed(signal)
        case .other(let what): return .other(what)
        }
    }
}
