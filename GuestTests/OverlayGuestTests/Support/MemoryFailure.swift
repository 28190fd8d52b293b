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
        let path = "/proc/sys/vm/memory_failure_early_kill"
        let before = SystemFiles.read(path)?.filter { !$0.isWhitespace } ?? "0"
        if before != "0" { try SystemFiles.write(path, "0") }
        defer { if before != "0" { try? SystemFiles.write(path, before) } }
        return try body()
    }

    /// madvise(`advice`) on file page `filePage` of `mapping`: 0 or the errno.
    static func advise(_ mapping: MappedFile, filePage: Int, _ advice: Int32) -> Int32 {
        madvise(mapping.pointer(toFilePage: filePage), pageSize, advice) == 0 ? 0 : errno
    }

    /// The page table entry of file page `filePage` of `mapping` in this process.
    static func entry(_ mapping: MappedFile, filePage: Int) throws -> PageResidency.Entry {
        try PageResidency.entries(of: mapping.pointer(toFilePage: filePage), pages: 1)[0]
    }

    /// Whether the kernel marked frame `frame` as poisoned (KPF_HWPOISON,
    /// bit 19 of /proc/kpageflags): soft offline marks the frame it took
    /// away too.
    static func isPoisoned(frame: UInt64) throws -> Bool {
        let fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open /proc/kpageflags") }
        defer { close(fd) }
        var flags: UInt64 = 0
        guard pread(fd, &flags, 8, off_t(frame * 8)) == 8 else { throw SysError("read /proc/kpageflags at frame \(frame)") }
        return flags >> 19 & 1 == 1
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
        switch child.waitOrKill(timeout: 60) {
        case .ended(let status) where status.exited: return status.exitCode == 0 ? .matched : .differs
        case .ended(let status) where status.signaled: return .killed(status.signal)
        case let ending: return .other("\(ending)")
        }
    }
}
