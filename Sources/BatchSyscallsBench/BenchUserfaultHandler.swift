// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// The handler thread of the userfaultfd method: it waits for missing-page
/// faults in the registered region and serves each with `UFFDIO_COPY` of
/// the right file's page, copied from a read-only mapping of that file (as
/// Firecracker's snapshot restore does).
final class BenchUserfaultHandler: @unchecked Sendable {
    // @unchecked Sendable: the thread reads only state that is immutable
    // while it runs.

    private let userfaultfd: Userfaultfd
    private let region: UnsafeMutableRawPointer
    private let layout: BenchLayout
    /// A sparse diff's dirty pages (served from the overlay file), or nil:
    /// the layout says.
    private let dirtyPages: [Bool]?
    private let base: UnsafeRawPointer
    private let overlay: UnsafeRawPointer
    /// Written to stop the thread, which polls it with the userfaultfd.
    private var stopPipe: EventPipe?
    private var thread = pthread_t()
    private var running = false

    /// A handler for `region` (`layout.pages` pages), which `userfaultfd`
    /// (non-blocking) has registered for missing faults.
    init(userfaultfd: Userfaultfd, region: UnsafeMutableRawPointer, layout: BenchLayout, dirtyPages: [Bool]? = nil,
         base: UnsafeRawPointer, overlay: UnsafeRawPointer) {
        self.userfaultfd = userfaultfd
        self.region = region
        self.layout = layout
        self.dirtyPages = dirtyPages
        self.base = base
        self.overlay = overlay
    }

    deinit {
        stop()
    }

    /// Starts the thread.
    func start() throws(BenchError) {
        do {
            stopPipe = try EventPipe()
        } catch {
            throw .call("pipe", error)
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<BenchUserfaultHandler>.fromOpaque(context!).takeUnretainedValue().serve()
            return nil
        }, context)
        guard result == 0 else { throw .call("pthread_create", Errno(rawValue: result)) }
        running = true
    }

    /// Stops the thread and waits for it.
    func stop() {
        guard running else { return }
        stopPipe?.send()
        pthread_join(thread, nil)
        stopPipe?.closeBoth()
        running = false
    }

    /// Says why the thread stops early: the faulting thread then waits
    /// until the bench's timeout kills the run, and this line tells why.
    private func fail(_ error: BenchError) {
        OutputLine.write("bench: userfaultfd handler: \(error)", to: OutputLine.standardError)
    }

    /// The thread: poll, read a batch of fault messages, serve each.
    private func serve() {
        let pageSize = MemoryPage.size
        let regionStart = UInt(bitPattern: region)
        var fds = [pollfd(fd: userfaultfd.descriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe?.readEnd ?? -1, events: Int16(POLLIN), revents: 0)]
        var messages = [uffd_msg](repeating: uffd_msg(), count: 16)
        while true {
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                fail(.call("poll of the userfaultfd", .current))
                return
            }
            if fds[1].revents != 0 { return }
            let faults: [UInt]
            switch userfaultfd.readFaults(into: &messages) {
            case .success(let addresses): faults = addresses
            case .failure(let error) where error == .resourceTemporarilyUnavailable || error == .interrupted: continue
            case .failure(let error):
                fail(.call("read of the userfaultfd", error))
                return
            }
            for address in faults {
                let page = Int(address - regionStart) / pageSize
                let source = (dirtyPages?[page] ?? layout.isOverlay(page)) ? overlay : base
                // EEXIST: another thread's fault on the same page was served first.
                if let error = userfaultfd.copy(to: address, from: source + page * pageSize), error != .fileExists {
                    fail(.call("UFFDIO_COPY of page \(page)", error))
                    return
                }
            }
        }
    }
}
