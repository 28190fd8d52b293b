// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestSupport
import Glibc
import GuestTestSupport
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// Child processes of a scenario: fork, run a body, report through the
/// shared output, exit 0 when the body recorded no failure.
enum ChildProcess {
    /// Forks; the child runs `body` and exits (0: no failure recorded,
    /// 1: failures, 77: skipped). Only call while one thread runs.
    static func spawn(_ label: String, _ body: () throws -> Void) -> pid_t {
        let pid = fork()
        if pid != 0 {
            if pid < 0 { Log.fail("\(label): fork failed: \(Errno.current)") }
            return pid
        }
        Log.resetAfterFork()
        do {
            try body()
        } catch let skip as SkipScenario {
            OutputLine.write("SKIP: \(skip)")
            _exit(77)
        } catch {
            Log.fail("\(label): \(error)")
        }
        _exit(Log.failures == 0 ? 0 : 1)
    }

    /// Waits for `pid` (any state change that ends it).
    static func wait(_ pid: pid_t) -> WaitStatus {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return WaitStatus(raw: 0x7f00 | 0x7f) }
        }
        return WaitStatus(raw: status)
    }

    /// Waits up to `timeout` seconds for `pid` (-1: any child); nil if it
    /// is still running.
    static func wait(_ pid: pid_t, timeout: Double) -> WaitStatus? {
        reap(pid, timeout: timeout)?.status
    }

    /// As `wait(_:timeout:)`, also returning which child ended.
    static func reap(_ pid: pid_t, timeout: Double) -> (pid: pid_t, status: WaitStatus)? {
        let deadline = monotonicSeconds() + timeout
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result > 0 { return (result, WaitStatus(raw: status)) }
            if result < 0 && errno != EINTR { return (result, WaitStatus(raw: 0x7f00 | 0x7f)) }
            if monotonicSeconds() > deadline { return nil }
            sleepSeconds(0.01)
        }
    }

    /// Waits for `pid` and records a failure unless it exited with 0.
    @discardableResult
    static func expectSuccess(_ pid: pid_t, _ label: String, timeout: Double = 120) -> Bool {
        guard pid > 0 else { return false }
        guard let status = wait(pid, timeout: timeout) else {
            kill(pid, SIGKILL)
            _ = wait(pid)
            Log.fail("\(label): did not finish within \(Int(timeout)) s (killed)")
            return false
        }
        return expect(status.succeeded, "\(label): \(status)")
    }
}

/// A pipe used as a one-way event between processes: a byte means "go",
/// end of file means the other side went away.
struct EventPipe {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { throw SysError("pipe") }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    func send(_ byte: UInt8 = 1) {
        var value = byte
        _ = Glibc.write(writeEnd, &value, 1)
    }

    /// The next byte, or nil at end of file or after `timeout` seconds.
    func receive(timeout: Double = 120) -> UInt8? {
        var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let deadline = monotonicSeconds() + timeout
        while true {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return nil }
            let ready = poll(&descriptor, 1, Int32(min(left, 1) * 1000))
            if ready < 0 && errno != EINTR { return nil }
            if ready > 0 {
                var value: UInt8 = 0
                let n = Glibc.read(readEnd, &value, 1)
                if n < 0 && errno == EINTR { continue }
                return n == 1 ? value : nil
            }
        }
    }

    func closeRead() { close(readEnd) }
    func closeWrite() { close(writeEnd) }
    func closeBoth() { close(readEnd); close(writeEnd) }
}

/// Makes this process the reaper of its orphaned descendants.
func becomeChildSubreaper() throws {
    if batch_syscalls_set_child_subreaper() != 0 { throw SysError("prctl(PR_SET_CHILD_SUBREAPER)") }
}
