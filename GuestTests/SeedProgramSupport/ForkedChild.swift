// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization

/// A child process made by fork(2), which runs a body and exits with its
/// status: what the fork program checks inherited mappings with.
public struct ForkedChild: Sendable {
    /// The child's process id.
    public let processID: pid_t

    /// Forks; the child runs `body` and exits with the status it returns,
    /// without running deinitialisers or atexit handlers (`_exit`): the
    /// parent's objects, copied into the child, must not clean up the
    /// parent's overlays or files. Call only while one thread runs.
    ///
    /// - Throws: the `Errno` of `fork`.
    public static func spawn(_ body: () -> CInt) throws(Errno) -> ForkedChild {
        let pid = fork()
        guard pid >= 0 else { throw Errno(rawValue: errno) }
        if pid == 0 {
            _exit(body())
        }
        return ForkedChild(processID: pid)
    }

    /// Waits for the child to end, at most `timeout` seconds; then kills it
    /// (SIGKILL) and reports that it hung.
    public func wait(timeout: Double = 120) -> ChildStatus {
        let deadline = Stopwatch()
        var status: CInt = 0
        while true {
            let result = waitpid(processID, &status, WNOHANG)
            if result == processID { return .ended(WaitStatus(raw: status)) }
            if result < 0 && errno != EINTR { return .lost(Errno(rawValue: errno)) }
            if Double(deadline.elapsedNanoseconds) / 1e9 > timeout {
                kill(processID, SIGKILL)
                while waitpid(processID, &status, 0) < 0 && errno == EINTR {}
                return .hung(seconds: timeout)
            }
            usleep(2_000)
        }
    }
}

/// How a child ended.
public enum ChildStatus: Sendable, CustomStringConvertible {
    /// A wait(2) status.
    case ended(WaitStatus)
    /// It ran past the timeout and was killed.
    case hung(seconds: Double)
    /// waitpid failed.
    case lost(Errno)

    /// Whether it exited with status 0.
    public var succeeded: Bool {
        if case .ended(let status) = self { return status.succeeded }
        return false
    }

    public var description: String {
        switch self {
        case .ended(let status) where status.exited:
            return "exit status \(status.exitCode)"
        case .ended(let status):
            let signal = status.signal
            let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
            return "killed by signal \(signal) (\(name))"
        case .hung(let seconds):
            return "still running after \(Int(seconds)) s (killed)"
        case .lost(let error):
            return "waitpid failed: \(error)"
        }
    }
}

/// A gate made of a pipe: processes forked while it is closed wait in
/// ``pass()`` until the parent calls ``open()``, which releases all of them
/// at once (the pipe's end of file).
public final class ForkGate: Sendable {
    private let readEnd: CInt
    /// -1 once closed, so that no descriptor is closed twice (the number
    /// may belong to another file by then).
    private let writeEnd: Atomic<CInt>

    /// - Throws: the `Errno` of `pipe`.
    public init() throws(Errno) {
        var ends: [CInt] = [0, 0]
        guard pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        readEnd = ends[0]
        writeEnd = Atomic(ends[1])
    }

    deinit {
        close(readEnd)
        closeWriteEnd()
    }

    /// In a child: waits until the parent opens the gate (or exits).
    public func pass() {
        // The child's copy of the write end would keep the pipe open.
        closeWriteEnd()
        var byte: UInt8 = 0
        while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
    }

    /// In the parent: releases every child waiting at the gate.
    public func open() {
        closeWriteEnd()
    }

    private func closeWriteEnd() {
        let descriptor = writeEnd.exchange(-1, ordering: .relaxed)
        if descriptor >= 0 { close(descriptor) }
    }
}
