// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import Synchronization
import SystemPackage

/// Waits for whatever releases an overlay that `apply --hold` keeps: SIGINT,
/// SIGTERM or SIGHUP; the end of standard input, where that end means
/// something; or a time limit.
///
/// The signals are caught with the self-pipe trick (the handler writes the
/// signal's number into a pipe that `poll` watches with standard input):
/// poll(2) then waits for all three events at once, and a signal that
/// arrives before the wait starts is not lost.
struct ReleaseWatcher: ~Copyable {
    /// What ended the wait.
    enum Reason: CustomStringConvertible {
        case signal(CInt)
        case endOfInput
        case timeLimit(Duration)

        var description: String {
            switch self {
            case .signal(let number): Self.signalName(number)
            case .endOfInput: "end of standard input"
            case .timeLimit(let limit): "held for \(Units.duration(limit))"
            }
        }

        private static func signalName(_ number: CInt) -> String {
            switch number {
            case SIGINT: "SIGINT"
            case SIGTERM: "SIGTERM"
            case SIGHUP: "SIGHUP"
            default: "signal \(number)"
            }
        }
    }

    /// The signals that may release the overlay.
    static let releaseSignals: [CInt] = [SIGINT, SIGTERM, SIGHUP]

    /// The release signals caught: those not ignored when the process
    /// started. sh ignores SIGINT in background commands, nohup SIGHUP, so
    /// that a Ctrl-C or a hangup meant for something else leaves them alone;
    /// the hold respects that as any command should.
    let signals: [CInt]

    /// Whether the end of standard input releases the overlay.
    ///
    /// Only when standard input is a pipe, a socket or the terminal this
    /// process reads in the foreground: there, the end comes from someone
    /// (the writer closing the pipe, Ctrl-D). `/dev/null` and regular files
    /// end at once: sh gives background commands `/dev/null`, so `apply
    /// --hold &` would let go before anyone could look. A terminal read from
    /// the background would stop the process with SIGTTIN.
    let watchesInput: Bool

    private let pipeReadEnd: FileDescriptor
    private let pipeWriteEnd: FileDescriptor

    /// Catches the release signals from now on.
    ///
    /// - Throws: the `Errno` of creating the pipe.
    init() throws(Errno) {
        let (readEnd, writeEnd) = try Errno.rethrowing { try FileDescriptor.pipe() }
        for end in [readEnd, writeEnd] {
            // Non-blocking: a burst of signals must never block the handler
            // on a full pipe. Close-on-exec: nothing of it leaks to children.
            _ = fcntl(end.rawValue, F_SETFL, fcntl(end.rawValue, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end.rawValue, F_SETFD, FD_CLOEXEC)
        }
        pipeReadEnd = readEnd
        pipeWriteEnd = writeEnd
        // Stored before the handlers exist, so the handler never runs the
        // global's lazy initialisation (not async-signal-safe).
        releasePipeWriteEnd.store(writeEnd.rawValue, ordering: .sequentiallyConsistent)
        var caught: [CInt] = []
        for number in Self.releaseSignals {
            guard !Self.isIgnored(number) else { continue }
            signal(number, releaseSignalHandler)
            caught.append(number)
        }
        signals = caught
        watchesInput = Self.inputEndMatters()
    }

    deinit {
        for number in signals {
            signal(number, SIG_DFL)
        }
        releasePipeWriteEnd.store(-1, ordering: .sequentiallyConsistent)
        try? pipeReadEnd.close()
        try? pipeWriteEnd.close()
    }

    /// Waits until a release signal, the end of standard input (if
    /// ``watchesInput``) or `limit` has passed.
    ///
    /// - Throws: the `Errno` of poll(2) or of reading standard input, other
    ///   than `EINTR`.
    func wait(limit: Duration?) throws(Errno) -> Reason {
        let clock = ContinuousClock()
        let deadline = limit.map { clock.now + $0 }
        var watched = [pollfd(fd: pipeReadEnd.rawValue, events: Int16(POLLIN), revents: 0)]
        if watchesInput {
            watched.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0))
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var timeout: CInt = -1
            if let deadline, let limit {
                let left = deadline - clock.now
                if left <= .zero { return .timeLimit(limit) }
                // Rounded up: waking a millisecond early would only loop.
                timeout = CInt(min(Units.seconds(left) * 1000 + 1, Double(CInt.max)))
            }
            let ready = poll(&watched, nfds_t(watched.count), timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            if watched[0].revents != 0 {
                let count = read(pipeReadEnd.rawValue, &buffer, 1)
                if count == 1 { return .signal(CInt(buffer[0])) }
            }
            if watchesInput && watched[1].revents != 0 {
                // Whatever is typed or piped in is read and dropped: only
                // its end counts.
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count == 0 { return .endOfInput }
                if count < 0 && errno != EINTR && errno != EAGAIN { throw Errno(rawValue: errno) }
            }
        }
    }

    /// Whether signal `number` is ignored now (looked at, not changed).
    private static func isIgnored(_ number: CInt) -> Bool {
        var current = sigaction()
        guard sigaction(number, nil, &current) == 0, let handler = current.__sigaction_handler.sa_handler else {
            return false
        }
        return unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    /// See ``watchesInput``.
    private static func inputEndMatters() -> Bool {
        var info = stat()
        guard fstat(STDIN_FILENO, &info) == 0 else { return false }
        switch info.st_mode & S_IFMT {
        case S_IFIFO, S_IFSOCK:
            return true
        case S_IFCHR:
            return isatty(STDIN_FILENO) == 1 && tcgetpgrp(STDIN_FILENO) == getpgrp()
        default:
            return false
        }
    }
}

/// The pipe the signal handler writes to; -1 when no watcher exists.
private let releasePipeWriteEnd = Atomic<CInt>(-1)

/// Writes the signal's number into the watcher's pipe. Only
/// async-signal-safe calls here: an atomic load and write(2).
private func releaseSignalHandler(_ number: CInt) {
    let savedErrno = errno
    var byte = UInt8(truncatingIfNeeded: number)
    let descriptor = releasePipeWriteEnd.load(ordering: .sequentiallyConsistent)
    if descriptor >= 0 { _ = write(descriptor, &byte, 1) }
    errno = savedErrno
}
