// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import SystemPackage

/// Runs one measurement in a child process of its own (the kit's
/// ``ChildProcess``) and returns the text it produced, sent back through a
/// pipe.
///
/// The child starts with the parent's small heap, while its mappings,
/// VMAs, resident memory and threads are its own and vanish with it. Call
/// only while one thread runs.
enum BenchChildRun {
    /// The body's result: its text, or the error it ended with.
    typealias Outcome = Result<String, BenchError>

    /// Forks, runs `body` in the child and waits at most `timeout` seconds
    /// for it (then kills it).
    static func run(timeout: Int, _ body: () throws(BenchError) -> String) -> Outcome {
        let pipe: EventPipe
        do {
            pipe = try EventPipe()
        } catch {
            return .failure(.call("pipe", error))
        }
        let child: ChildProcess
        do throws(Errno) {
            child = try ChildProcess.fork(closing: [pipe.readEnd]) {
                let text: String
                do throws(BenchError) {
                    text = "ok\n" + (try body())
                } catch {
                    text = "\(error.status)\n\(error.reason)"
                }
                return OutputLine.writeAll(text, to: pipe.writeEnd) ? 0 : 2
            }
        } catch {
            pipe.closeBoth()
            return .failure(.call("fork", error))
        }
        pipe.closeWrite()
        defer { pipe.closeRead() }
        let (bytes, status) = child.collect(pipe.readEnd, timeout: Double(timeout), limit: 1 << 26)
        guard let status else {
            child.kill()
            _ = child.wait()
            return .failure(.failed("did not finish within \(timeout) s (killed)"))
        }
        if status.signaled { return .failure(.failed("child \(status)")) }
        return decode(String(decoding: bytes, as: UTF8.self))
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
}
