// SPDX-License-Identifier: GPL-2.0-or-later
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import Synchronization
import SystemPackage

private let failureCounter = Atomic<Int>(0)

/// Failures and notes of the running scenario (one process; threads may
/// report concurrently). The scenario's exit status says whether it passed;
/// the lines become TAP diagnostics.
enum Log {
    static var failures: Int { failureCounter.load(ordering: .relaxed) }

    static func fail(_ message: String) {
        failureCounter.add(1, ordering: .relaxed)
        OutputLine.write("FAIL: " + message)
    }

    static func note(_ message: String) {
        OutputLine.write(message)
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

/// The same for a request that throws its errno (`try device.cleanup(id)`).
@discardableResult
func expectErrno(_ request: @autoclosure () throws(Errno) -> Void, _ want: Int32, _ what: String) -> Bool {
    expectErrno(errnoCode(try request()), want, what)
}

/// The same for a raw ioctl's result (nil: success).
@discardableResult
func expectErrno(_ got: Errno?, _ want: Int32, _ what: String) -> Bool {
    expectErrno(got?.rawValue ?? 0, want, what)
}

/// Aborts the scenario (or child) unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(TestFailure) {
    if !condition { throw TestFailure(message()) }
}
