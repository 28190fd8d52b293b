// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import SystemPackage

/// Processes that each hold a view while the parent measures them all
/// (the restores and the sharing runs): each reports through one pipe and
/// waits on another until the parent releases them, at once.
final class BenchWorkers {
    /// What the workers write to and the parent reads.
    let reports: EventPipe
    /// Closed by the parent to release every worker.
    private let release: EventPipe
    /// The workers, in the order they were started.
    private(set) var processes: [ChildProcess] = []
    /// Set by ``allStarted()``: the parent's ends the workers use are closed.
    private var started = false

    init() throws(BenchError) {
        do {
            reports = try EventPipe()
            release = try EventPipe()
        } catch {
            throw .call("pipe", error)
        }
    }

    /// Releases the workers, waits for them and closes the pipes.
    deinit {
        allStarted()
        release.closeWrite()
        for worker in processes { _ = worker.wait() }
        reports.closeRead()
    }

    /// Closes the parent's copies of the ends only the workers use: reading
    /// `reports` then ends when the last worker closes its end. Once.
    func allStarted() {
        guard !started else { return }
        started = true
        reports.closeWrite()
        release.closeRead()
    }

    /// Starts a worker running `body`, which writes to `reports.writeEnd`
    /// and then calls ``holdUntilReleased()``.
    func start(_ body: () -> CInt) throws(BenchError) {
        do {
            processes.append(try ChildProcess.fork(closing: [reports.readEnd, release.writeEnd], body))
        } catch {
            throw .call("fork", error)
        }
    }

    /// In a worker: waits until the parent releases the workers (or exits),
    /// then leaves without deinitialisers (a view inherited from the
    /// parent, such as a shared overlay, is the parent's to clean up).
    func holdUntilReleased() -> Never {
        var byte: UInt8 = 0
        while read(release.readEnd, &byte, 1) < 0 && errno == EINTR {}
        _exit(0)
    }
}
