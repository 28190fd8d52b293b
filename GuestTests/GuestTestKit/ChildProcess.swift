// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import MemoryOverlay
import SystemPackage

/// A child process made by fork(2) that runs a body and exits with its
/// status: the one helper for every child of the guest programs (a test's
/// children, each scenario's own process, the bench's runs and restores).
///
/// A fork, not an exec: the child needs nothing but the parent's code. It
/// leaves with `_exit`, so no deinitialiser or atexit handler runs there:
/// the parent's objects, copied into the child, must not clean up the
/// parent's overlays or files. Fork only while one thread runs.
public struct ChildProcess: Sendable, Hashable {
    /// The child's process id.
    public let id: pid_t

    /// The child with process id `id` (a child of this process).
    public init(id: pid_t) {
        self.id = id
    }

    /// Forks; the child runs `body` and exits with the status it returns.
    ///
    /// - Parameters:
    ///   - newProcessGroup: the child leads a process group of its own, so
    ///     that ``kill(_:wholeGroup:)`` reaches its descendants too.
    ///   - output: where the child's standard output and error go (a
    ///     pipe's write end, say); the child closes every other end it is
    ///     given in `closing`.
    /// - Throws: the `Errno` of `fork`.
    public static func fork(newProcessGroup: Bool = false, output: CInt? = nil, closing: [CInt] = [],
                            _ body: () -> CInt) throws(Errno) -> ChildProcess {
        // Buffered stdio would be written twice, by the parent and the child.
        fflush(nil)
        let pid = Glibc.fork()
        guard pid >= 0 else { throw .current }
        if pid == 0 {
            if newProcessGroup { setpgid(0, 0) }
            if let output {
                dup2(output, STDOUT_FILENO)
                dup2(output, STDERR_FILENO)
                if output > STDERR_FILENO { close(output) }
            }
            for descriptor in closing { close(descriptor) }
            _exit(body())
        }
        // Set here too: whichever of the two runs first, the group exists
        // before the parent signals it.
        if newProcessGroup { setpgid(pid, pid) }
        return ChildProcess(id: pid)
    }

    /// Waits for the child to end.
    public func wait() -> WaitStatus {
        var status: CInt = 0
        while waitpid(id, &status, 0) < 0 {
            // Not (or no longer) a child: as if killed, so that nobody
            // mistakes it for success.
            if errno != EINTR { return WaitStatus(raw: 0x7f00 | 0x7f) }
        }
        return WaitStatus(raw: status)
    }

    /// Waits at most `timeout` seconds for the child to end; nil while it
    /// still runs.
    public func wait(timeout: Double) -> WaitStatus? {
        Self.reap(self, timeout: timeout)?.status
    }

    /// Waits at most `timeout` seconds; then kills the child (SIGKILL, its
    /// group too if it leads one) and reaps it.
    public func waitOrKill(timeout: Double) -> Ending {
        if let status = wait(timeout: timeout) { return .ended(status) }
        kill(SIGKILL, wholeGroup: true)
        _ = wait()
        return .killed(afterSeconds: timeout)
    }

    /// Sends `signal` to the child, and to its process group when
    /// `wholeGroup` (it has one when forked with `newProcessGroup`).
    public func kill(_ signal: CInt = SIGKILL, wholeGroup: Bool = false) {
        if wholeGroup { Glibc.kill(-id, signal) }
        Glibc.kill(id, signal)
    }

    /// Waits at most `timeout` seconds for `child` to end, or for any
    /// child when `child` is nil; which one ended, and how.
    public static func reap(_ child: ChildProcess?, timeout: Double) -> (child: ChildProcess, status: WaitStatus)? {
        let deadline = Stopwatch.nowSeconds() + timeout
        var status: CInt = 0
        while true {
            let result = waitpid(child?.id ?? -1, &status, WNOHANG)
            if result > 0 { return (ChildProcess(id: result), WaitStatus(raw: status)) }
            if result < 0 && errno != EINTR {
                return (child ?? ChildProcess(id: -1), WaitStatus(raw: 0x7f00 | 0x7f))
            }
            if Stopwatch.nowSeconds() > deadline { return nil }
            Stopwatch.sleep(seconds: 0.01)
        }
    }

    /// Reaps every child that has ended, without waiting.
    public static func reapEnded() {
        var status: CInt = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    /// Makes this process the reaper of its orphaned descendants
    /// (`PR_SET_CHILD_SUBREAPER`): they come back here to be reaped.
    public static func becomeSubreaper() throws(Errno) {
        guard batch_syscalls_set_child_subreaper() == 0 else { throw .current }
    }

    /// Reads what the child writes to `output` (the read end of the pipe it
    /// writes to, made non-blocking here) until it ends or `timeout`
    /// seconds pass, keeping at most `limit` bytes.
    ///
    /// - Returns: the bytes, and how the child ended (nil: still running
    ///   at the deadline).
    public func collect(_ output: CInt, timeout: Double, limit: Int = 1 << 20) -> (bytes: [UInt8], status: WaitStatus?) {
        _ = fcntl(output, F_SETFL, O_NONBLOCK)
        let deadline = Stopwatch.nowSeconds() + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        func drain() {
            while true {
                let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return }
                if bytes.count < limit { bytes += buffer[0..<Swift.min(count, limit - bytes.count)] }
            }
        }
        while true {
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 100)
            drain()
            var raw: CInt = 0
            // Stop at the child's exit, not at end of file: a descendant may
            // keep the pipe open after it.
            if waitpid(id, &raw, WNOHANG) == id {
                drain()
                return (bytes, WaitStatus(raw: raw))
            }
            if Stopwatch.nowSeconds() > deadline { return (bytes, nil) }
        }
    }

    /// How a child waited for with a timeout ended.
    public enum Ending: Sendable, CustomStringConvertible {
        /// It ended by itself.
        case ended(WaitStatus)
        /// It ran past the timeout and was killed.
        case killed(afterSeconds: Double)

        /// Whether it exited with status 0.
        public var succeeded: Bool {
            if case .ended(let status) = self { return status.succeeded }
            return false
        }

        /// "exit status 1", "killed by SIGSEGV", "still running after 120 s
        /// (killed)".
        public var description: String {
            switch self {
            case .ended(let status): status.description
            case .killed(let seconds): "still running after \(Int(seconds)) s (killed)"
            }
        }
    }
}
