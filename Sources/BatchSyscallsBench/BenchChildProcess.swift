// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// Runs a body in a forked child process and returns the text it produced,
/// sent back through a pipe.
///
/// A fork, not an exec: the child needs nothing but the parent's code and
/// starts with the parent's small heap, while its mappings, VMAs, resident
/// memory and threads are its own and vanish with it. Call only while one
/// thread runs.
enum BenchChildProcess {
    /// The body's result: its text, or the error it ended with.
    typealias Outcome = Result<String, BenchError>

    /// Forks, runs `body` in the child and waits at most `timeout` seconds
    /// for it (then kills it).
    static func run(timeout: Int, _ body: () throws(BenchError) -> String) -> Outcome {
        guard let pipe = benchPipe() else { return .failure(.call("pipe", .benchCurrent)) }
        let fds = [pipe.read, pipe.write]
        fflush(nil)
        let pid = fork()
        if pid < 0 {
            let error = Errno.benchCurrent
            close(fds[0])
            close(fds[1])
            return .failure(.call("fork", error))
        }
        if pid == 0 {
            close(fds[0])
            let text: String
            do {
                text = "ok\n" + (try body())
            } catch {
                text = "\(error.status)\n\(error.reason)"
            }
            let bytes = Array(text.utf8)
            var done = 0
            while done < bytes.count {
                let count = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress! + done, $0.count - done) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { _exit(2) }
                done += count
            }
            // _exit: no atexit handlers, no flush of the parent's stdio buffers.
            _exit(0)
        }
        close(fds[1])
        defer { close(fds[0]) }
        let (text, timedOut) = readAll(fds[0], deadline: BenchClock.now() + UInt64(timeout) * 1_000_000_000)
        if timedOut { kill(pid, SIGKILL) }
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return .failure(.failed("did not finish within \(timeout) s (killed)")) }
        let signal = status & 0x7f
        if signal != 0 { return .failure(.failed("child killed by signal \(signal)")) }
        return decode(text)
    }

    /// The first line says how the body ended: `ok` (the text follows), or
    /// an error's status word (its reason follows).
    private static func decode(_ text: String) -> Outcome {
        guard let newline = text.firstIndex(of: "\n") else {
            return .failure(.failed("child exited without a result"))
        }
        let rest = String(text[text.index(after: newline)...])
        switch text[..<newline] {
        case "ok": return .success(rest)
        case "unavailable": return .failure(.unavailable(rest))
        case "skipped": return .failure(.skipped(rest))
        default: return .failure(.failed(rest))
        }
    }

    /// Reads until end of file or the deadline.
    private static func readAll(_ descriptor: CInt, deadline: UInt64) -> (String, timedOut: Bool) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let now = BenchClock.now()
            if now >= deadline { return (String(decoding: bytes, as: UTF8.self), true) }
            let ready = poll(&poller, 1, CInt(min((deadline - now) / 1_000_000, 60_000)))
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return (String(decoding: bytes, as: UTF8.self), false)
    }
}
