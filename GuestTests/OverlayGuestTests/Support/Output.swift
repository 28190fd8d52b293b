// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization

/// Line output with one write(2) per line: lines from threads and from child
/// processes that share the scenario's pipe never interleave. (Swift's
/// `print` buffers in stdio, and a buffer inherited by fork would be
/// written twice.)
enum Output {
    static func line(_ text: String, to fd: Int32 = 1) {
        var bytes = Array(text.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

private let failureCounter = Atomic<Int>(0)

/// Failures and notes of the running scenario (one process; threads may
/// report concurrently). The scenario's exit status says whether it passed;
/// the lines become TAP diagnostics.
enum Log {
    static var failures: Int { failureCounter.load(ordering: .relaxed) }

    static func fail(_ message: String) {
        failureCounter.add(1, ordering: .relaxed)
        Output.line("FAIL: " + message)
    }

    static func note(_ message: String) {
        Output.line(message)
    }

    /// A forked child counts its own failures.
    static func resetAfterFork() {
        failureCounter.store(0, ordering: .relaxed)
    }
}

/// Records a failure unless `condition` holds; returns `condition`.
@discardableResult
func expect(_ condition: Bool, _ message: @autoclosure () -> String) -> Bool {
    if !condition { Log.fail(message()) }
    return condition
}

/// Records a failure unless `got` (0 for success, else an errno) is `want`.
@discardableResult
func expectErrno(_ got: Int32, _ want: Int32, _ what: String) -> Bool {
    expect(got == want, "\(what): expected \(Errno.describe(want)), got \(Errno.describe(got))")
}

/// Aborts the scenario (or child) unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(TestFailure) {
    if !condition { throw TestFailure(message()) }
}
