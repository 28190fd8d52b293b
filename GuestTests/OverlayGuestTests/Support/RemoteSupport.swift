// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// One page of shared anonymous memory, mapped before a fork: a scenario
/// and its children pass numbers through it (an address, an id, a verdict).
/// Written before a step and read after it: the step's pipe orders them.
final class Mailbox: @unchecked Sendable {
    // @unchecked: processes, not threads, share it, each in its turn.
    private let slots: UnsafeMutablePointer<UInt64>
    static let slotCount = 512

    init() throws {
        let memory = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else { throw SysError("mmap a shared page") }
        slots = memory.bindMemory(to: UInt64.self, capacity: Self.slotCount)
    }

    deinit { munmap(slots, pageSize) }

    subscript(slot: Int) -> UInt64 {
        get { slots[slot] }
        set { slots[slot] = newValue }
    }

    /// An id in slots `slot` and `slot + 1`.
    func store(_ id: OverlayID, at slot: Int) {
        let bytes = id.bytes
        for half in 0..<2 {
            var word: UInt64 = 0
            for index in 0..<8 { word |= UInt64(bytes[half * 8 + index]) << (8 * index) }
            self[slot + half] = word
        }
    }

    func id(at slot: Int) -> OverlayID {
        var bytes: [UInt8] = []
        for half in 0..<2 {
            for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: self[slot + half] >> (8 * index))) }
        }
        return OverlayID(bytes: bytes)!
    }
}

/// A snapshot chain of three sparse diffs over base.bin, written on the
/// test disk, and what it shows: the layers of a restore into another
/// process.
struct RemoteChain {
    let diffs: [SparseLayer]
    /// The layers' contents, loaded (for composing the view).
    let images: [FileImage]
    let view: ExpectedView

    /// Writes the diffs: runs of pages at different places in each, some
    /// laid over the one below.
    static func write(_ prefix: String, basePages pages: Int, stream: UInt32) throws -> RemoteChain {
        let runs: [[ClosedRange<Int>]] = [
            [0...63, 200...299, 700...720],
            [32...95, 250...251, 500...599],
            [1...1, 90...140, 598...640, pages - 8...pages - 1],
        ]
        var diffs: [SparseLayer] = []
        var images: [FileImage] = []
        var view = ExpectedView(base: try TestData.load().base)
        for (index, data) in runs.enumerated() {
            let diff = try SparseLayer.write(name: "\(prefix)-diff-\(index + 1)", pages: pages, data: data,
                                             stream: stream + UInt32(index))
            let image = try FileImage.load(fd: diff.fd, name: diff.name)
            view.overlay(image, data)
            diffs.append(diff)
            images.append(image)
        }
        return RemoteChain(diffs: diffs, images: images, view: view)
    }

    func close() { diffs.forEach { $0.close() } }

    /// The diffs as a raw request's layers (their data extents).
    var rawLayers: [RawLayer] { diffs.map { $0.raw() } }

    /// The diffs as the library's layers.
    var layers: [Layer] { diffs.map { .dataExtents(of: FileDescriptor(rawValue: $0.fd)) } }
}

extension RawStackRequest {
    /// A request laying `layers` over the mapping at `base` in the process
    /// `pidfd` names.
    static func remote(pidfd: Int32, base: UnsafeRawPointer?, layers: [RawLayer]) -> RawStackRequest {
        var request = RawStackRequest(baseAddress: base, layers: layers)
        request.flags = RawStackRequest.pidfdFlag
        request.pidfd = pidfd
        return request
    }
}

/// Which view a page shows, told by its first eight bytes (a page of the
/// test data names its file's stream and its number there): what a reader
/// racing a request can check with one load, which no replacement tears.
struct PageVersions: Sendable {
    private let before: [UInt64]
    private let after: [UInt64]

    enum Version { case before, after, either, neither }

    init(before: ExpectedView, after: ExpectedView, pages: Int) {
        func firstWords(_ view: ExpectedView) -> [UInt64] {
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
            defer { scratch.deallocate() }
            return (0..<pages).map { page in
                guard case .filePage(let image, let filePage) = view.expectation(forFilePage: page),
                      let content = try? image.page(filePage, scratch: scratch)
                else { return 0 }
                return content.load(as: UInt64.self)
            }
        }
        self.before = firstWords(before)
        self.after = firstWords(after)
    }

    var pageCount: Int { before.count }

    /// The pages whose first bytes differ between the two views.
    var changedPages: [Int] { (0..<before.count).filter { before[$0] != after[$0] } }

    func version(of page: Int, word: UInt64) -> Version {
        switch (word == before[page], word == after[page]) {
        case (true, true): .either
        case (true, false): .before
        case (false, true): .after
        case (false, false): .neither
        }
    }

    /// Whether `mapping` shows one view in every changed page: `.before`,
    /// `.after`, or `.neither` for a mix (or a page of neither).
    func wholeView(of mapping: MappedFile) -> Version {
        var seen: Set<Int> = []
        for page in changedPages {
            let word = mapping.address.load(fromByteOffset: page * pageSize, as: UInt64.self)
            switch version(of: page, word: word) {
            case .before: seen.insert(0)
            case .after: seen.insert(1)
            default: return .neither
            }
        }
        return seen == [0] ? .before : seen == [1] ? .after : seen.isEmpty ? .either : .neither
    }
}

/// The user the unprivileged callers and targets run as (nobody).
let unprivilegedUser: uid_t = 65534

/// Drops every id of this process to `user` (and its group), with no
/// supplementary groups: no capability is left. The process stays
/// dumpable, as one started by its user would be (changing ids clears it).
func becomeUser(_ user: uid_t, realUser: uid_t? = nil) throws {
    if setgroups(0, nil) != 0 { throw SysError("setgroups") }
    if batch_syscalls_setresgid(user, user, user) != 0 { throw SysError("setresgid \(user)") }
    if batch_syscalls_setresuid(realUser ?? user, user, user) != 0 { throw SysError("setresuid \(realUser ?? user), \(user)") }
    if batch_syscalls_set_dumpable() != 0 { throw SysError("prctl(PR_SET_DUMPABLE)") }
}

/// Yama's ptrace_scope (0 when Yama is not built in).
func yamaPtraceScope() -> Int {
    SystemFiles.read("/proc/sys/kernel/yama/ptrace_scope").flatMap { Int($0.filter { !$0.isWhitespace }) } ?? 0
}

/// Whether `process_vm_writev` may write one byte at `address` in process
/// `pid` (a byte the process reads nowhere): the rule a request by pidfd
/// must match.
func processVMWritable(_ pid: pid_t, at address: UnsafeMutableRawPointer) -> (writable: Bool, errno: Int32) {
    var byte: UInt8 = 0x5A
    let written = batch_syscalls_process_vm_write(pid, address, &byte, 1)
    return (written == 1, written == 1 ? 0 : errno)
}
