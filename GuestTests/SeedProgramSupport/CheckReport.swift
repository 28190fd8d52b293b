// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization

/// The checks of one program run: an `ok - ...` or `FAIL - ...` line per
/// check, `skip - ...` for a part that cannot run here, `# ...` for
/// diagnostics and measurements, and a summary line at the end.
///
/// Threads may report concurrently. A forked child starts from a copy of
/// the counts; it reports through its exit status, not through these.
public final class CheckReport: Sendable {
    /// How many checks passed, failed, and parts were skipped.
    public struct Counts: Sendable {
        public var passed = 0
        public var failed = 0
        public var skipped = 0
    }

    /// The program's name, which starts the summary line.
    public let program: String
    private let state = Mutex(Counts())

    public init(program: String) {
        self.program = program
    }

    /// The counts so far.
    public var counts: Counts { state.withLock { $0 } }

    /// Records a passed check.
    public func pass(_ what: String) {
        state.withLock { $0.passed += 1 }
        OutputLine.write("ok - \(what)")
    }

    /// Records a failed check.
    public func fail(_ what: String) {
        state.withLock { $0.failed += 1 }
        OutputLine.write("FAIL - \(what)")
    }

    /// Records a check that passed when `condition` holds; a failure says
    /// `what` and then `why`.
    @discardableResult
    public func check(_ condition: Bool, _ what: String, why: @autoclosure () -> String = "") -> Bool {
        if condition {
            pass(what)
        } else {
            let reason = why()
            fail(reason.isEmpty ? what : "\(what): \(reason)")
        }
        return condition
    }

    /// Records a part that could not run here (never counted as passed).
    public func skip(_ what: String, because reason: String) {
        state.withLock { $0.skipped += 1 }
        OutputLine.write("skip - \(what): \(reason)")
    }

    /// A diagnostic or a measurement: not a check.
    public func note(_ text: String) {
        OutputLine.write("# \(text)")
    }

    /// The summary line: `NAME: P passed, F failed, S skipped`.
    public var summary: String {
        let counts = self.counts
        return "\(program): \(counts.passed) passed, \(counts.failed) failed, \(counts.skipped) skipped"
    }

    /// Writes the summary line and exits: 1 when a check failed or none
    /// ran, 0 otherwise.
    public func finish() -> Never {
        OutputLine.write(summary)
        let counts = self.counts
        exit(counts.failed == 0 && counts.passed > 0 ? ExitStatus.passed : ExitStatus.failed)
    }
}

/// The exit statuses of the seed programs (77: the automake convention for
/// a skipped test).
public enum ExitStatus {
    public static let passed: CInt = 0
    public static let failed: CInt = 1
    public static let usage: CInt = 2
    public static let skipped: CInt = 77
}
