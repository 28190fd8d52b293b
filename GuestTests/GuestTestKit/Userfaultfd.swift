// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import MemoryOverlay
import Synchronization
import SystemPackage

/// A userfaultfd that has made the API handshake: registers anonymous
/// memory for missing faults, reads fault events and serves them with
/// `UFFDIO_COPY`. What the bench's userfaultfd method and the scenario of
/// a create stuck on unserved request memory both use. Closed on deinit
/// or by ``close()``.
public final class Userfaultfd: Sendable {
    private let descriptorValue: Atomic<CInt>

    /// The descriptor (-1 once closed), for poll(2).
    public var descriptor: CInt { descriptorValue.load(ordering: .relaxed) }

    /// Opens one (close-on-exec, plus `nonBlocking`) and makes the API
    /// handshake. `userModeOnly` asks for this process's user-mode faults
    /// alone (`UFFD_USER_MODE_ONLY`, which a user other than root may
    /// have; a kernel before 5.11 does not know it and gets the plain
    /// call); without it, a kernel access to the memory waits too.
    ///
    /// - Throws: the `Errno` of `userfaultfd` or `UFFDIO_API`.
    public init(nonBlocking: Bool = false, userModeOnly: Bool = false) throws(Errno) {
        let flags = O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
        var descriptor = guest_userfaultfd(flags | (userModeOnly ? UFFD_USER_MODE_ONLY : 0))
        if descriptor < 0 && errno == EINVAL && userModeOnly { descriptor = guest_userfaultfd(flags) }
        guard descriptor >= 0 else { throw .current }
        var api = uffdio_api()
        api.api = UInt64(guest_uffd_api)
        guard guest_uffdio_api(descriptor, &api) == 0 else {
            let error = Errno.current
            Glibc.close(descriptor)
            throw error
        }
        descriptorValue = Atomic(descriptor)
    }

    deinit { close() }

    /// Registers `length` bytes at `address` (anonymous memory, page
    /// aligned) for missing faults: a first access waits for ``copy(to:from:length:)``.
    ///
    /// - Throws: the `Errno` of `UFFDIO_REGISTER`.
    public func registerMissing(_ address: UnsafeMutableRawPointer, length: Int) throws(Errno) {
        var register = uffdio_register()
        register.range.start = UInt64(UInt(bitPattern: address))
        register.range.len = UInt64(length)
        register.mode = UInt64(guest_uffdio_register_mode_missing)
        guard guest_uffdio_register(descriptor, &register) == 0 else { throw .current }
    }

    /// Reads the fault events waiting (at most `messages.count`): the
    /// page-aligned address of each missing-page fault.
    ///
    /// - Returns: the addresses, or the `Errno` of read(2) (`EAGAIN` when
    ///   a non-blocking one has none).
    public func readFaults(into messages: inout [uffd_msg]) -> Result<[UInt], Errno> {
        let bytes = messages.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard bytes >= 0 else { return .failure(.current) }
        let pageMask = ~UInt(MemoryPage.size - 1)
        return .success(messages.prefix(bytes / MemoryLayout<uffd_msg>.size)
            .filter { Int32($0.event) == UFFD_EVENT_PAGEFAULT }
            .map { UInt($0.arg.pagefault.address) & pageMask })
    }

    /// Copies `length` bytes from `source` to the registered `address`,
    /// waking the accesses waiting there.
    ///
    /// - Returns: nil, or the errno (`EEXIST`: the page was served already).
    public func copy(to address: UInt, from source: UnsafeRawPointer, length: Int = MemoryPage.size) -> Errno? {
        var copy = uffdio_copy()
        copy.dst = UInt64(address)
        copy.src = UInt64(UInt(bitPattern: source))
        copy.len = UInt64(length)
        copy.mode = 0
        return guest_uffdio_copy(descriptor, &copy) == 0 ? nil : .current
    }

    /// Closes the descriptor (the first call only): a waiting fault then
    /// fails instead of waiting for ever.
    public func close() {
        let descriptor = descriptorValue.exchange(-1, ordering: .relaxed)
        if descriptor >= 0 { Glibc.close(descriptor) }
    }
}
