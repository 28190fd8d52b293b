// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// The handler thread of the userfaultfd methods: it waits for missing-page
/// faults in the registered region and serves each with `UFFDIO_COPY` of
/// the right file's page, copied from a read-only mapping of that file (as
/// Firecracker's snapshot restore does). Given pages to prefetch, it also
/// copies those in, in order, whenever no fault waits (as REAP's restore
/// does with the pages a recorded run touched).
final class BenchUserfaultHandler: @unchecked Sendable {
    // @unchecked Sendable: the thread reads only state that is immutable
    // while it runs.

    private let userfaultfd: Userfaultfd
    private let region: UnsafeMutableRawPointer
    private let pages: Int
    /// Where page `page` of the view comes from (in a read-only mapping).
    private let source: (Int) -> UnsafeRawPointer
    /// Pages to copy in before they fault, sorted.
    private let prefetch: [ClosedRange<Int>]
    /// Written to stop the thread, which polls it with the userfaultfd.
    private var stopPipe: EventPipe?
    private var thread = pthread_t()
    private var running = false

    /// A handler for `region` (`layout.pages` pages), which `userfaultfd`
    /// (non-blocking) has registered for missing faults: each page from
    /// `overlay` where `dirtyPages` (or else the layout) says so, from
    /// `base` elsewhere.
    convenience init(userfaultfd: Userfaultfd, region: UnsafeMutableRawPointer, layout: BenchLayout,
                     dirtyPages: [Bool]? = nil, base: UnsafeRawPointer, overlay: UnsafeRawPointer) {
        let pageSize = MemoryPage.size
        self.init(userfaultfd: userfaultfd, region: region, pages: layout.pages) { page in
            ((dirtyPages?[page] ?? layout.isOverlay(page)) ? overlay : base) + page * pageSize
        }
    }

    /// A handler for `region` (`pages` pages), which `userfaultfd`
    /// (non-blocking) has registered for missing faults: each page from
    /// `source(page)`, and the pages of `prefetch` (sorted ranges) copied in
    /// ahead of their faults.
    init(userfaultfd: Userfaultfd, region: UnsafeMutableRawPointer, pages: Int, prefetch: [ClosedRange<Int>] = [],
         source: @escaping (Int) -> UnsafeRawPointer) {
        self.userfaultfd = userfaultfd
        self.region = region
        self.pages = pages
        self.source = source
        self.prefetch = prefetch
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

    /// The thread: poll, read a batch of fault messages, serve each; while
    /// pages are left to prefetch, poll without waiting and copy the next
    /// few of them after each poll (faults first: they hold a thread up).
    private func serve() {
        let pageSize = MemoryPage.size
        let regionStart = UInt(bitPattern: region)
        var fds = [pollfd(fd: userfaultfd.descriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe?.readEnd ?? -1, events: Int16(POLLIN), revents: 0)]
        var messages = [uffd_msg](repeating: uffd_msg(), count: 16)
        var prefetchRange = 0
        var prefetchPage = prefetch.first?.lowerBound ?? 0
        while true {
            let prefetching = prefetchRange < prefetch.count
            if poll(&fds, 2, prefetching ? 0 : -1) < 0 {
                if errno == EINTR { continue }
                fail(.call("poll of the userfaultfd", .current))
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 {
                let faults: [UInt]
                switch userfaultfd.readFaults(into: &messages) {
                case .success(let addresses): faults = addresses
                case .failure(let error) where error == .resourceTemporarilyUnavailable || error == .interrupted:
                    faults = []
                case .failure(let error):
                    fail(.call("read of the userfaultfd", error))
                    return
                }
                for address in faults {
                    let page = Int(address - regionStart) / pageSize
                    // EEXIST: another thread's fault on the same page, or the prefetch, was first.
                    if let error = userfaultfd.copy(to: address, from: source(page)), error != .fileExists {
                        fail(.call("UFFDIO_COPY of page \(page)", error))
                        return
                    }
                }
            }
            guard prefetching else { continue }
            let range = prefetch[prefetchRange]
            let count = min(Self.prefetchChunk, range.upperBound + 1 - prefetchPage, max(0, pages - prefetchPage))
            if count > 0, let error = copyIn(prefetchPage, count: count) {
                fail(.call("UFFDIO_COPY of prefetched page \(prefetchPage)", error))
                return
            }
            prefetchPage += max(count, 1)
            if prefetchPage > range.upperBound || count == 0 {
                prefetchRange += 1
                prefetchPage = prefetchRange < prefetch.count ? prefetch[prefetchRange].lowerBound : 0
            }
        }
    }

    /// Pages the prefetch copies with one `UFFDIO_COPY` (64 KiB): few
    /// enough that a fault arriving meanwhile waits little.
    private static let prefetchChunk = 16

    /// Copies `count` pages from `first` in with one `UFFDIO_COPY` when
    /// their source is contiguous, else (or when some page is there
    /// already) one page at a time. A page already there stops a longer
    /// copy: `EEXIST` when it is the first, `EAGAIN` (a partial copy) when
    /// pages before it were copied; a single page's `EAGAIN` (the address
    /// space changing meanwhile) is tried again.
    private func copyIn(_ first: Int, count: Int) -> Errno? {
        let pageSize = MemoryPage.size
        let start = source(first)
        let contiguous = (1..<count).allSatisfy { source(first + $0) == start + $0 * pageSize }
        let address = UInt(bitPattern: region) + UInt(first * pageSize)
        if contiguous {
            guard let error = userfaultfd.copy(to: address, from: start, length: count * pageSize) else { return nil }
            guard error == .fileExists || error == .resourceTemporarilyUnavailable else { return error }
        }
        for index in 0..<count {
            var error: Errno?
            repeat {
                error = userfaultfd.copy(to: address + UInt(index * pageSize), from: source(first + index))
            } while error == .resourceTemporarilyUnavailable
            if let error, error != .fileExists { return error }
        }
        return nil
    }
}
