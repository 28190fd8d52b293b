// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization

/// The one test reporter: TAP version 13, written line by line as tests
/// end, by every test program (the scenarios, the seed programs, the
/// Swift Testing converter).
///
/// Test lines carry no numbers (`ok - name`, `not ok - name`,
/// `ok - name # SKIP reason`), so that streams of several programs
/// concatenate into one stream as they are: `make test` passes every line
/// through unchanged and counts them for the plan at its end. A program
/// run alone writes the `TAP version 13` header and its plan (`1..N`);
/// with `TAP_EMBEDDED=1` in its environment (set by the stream that
/// embeds it) it writes neither.
///
/// Threads may report concurrently; each line is one write(2).
public final class TAPReporter: Sendable {
    /// The environment variable that says the program's lines are part of
    /// a larger stream.
    public static let embeddedVariable = "TAP_EMBEDDED"

    /// The exit status of a test program, or of a test's own process, that
    /// cannot run here (the automake convention).
    public static let skippedExitStatus: CInt = 77

    /// How many tests passed, failed and were skipped.
    public struct Counts: Sendable {
        public var passed = 0
        public var failed = 0
        public var skipped = 0
        /// Every test line written.
        public var total: Int { passed + failed + skipped }
    }

    /// Whether the header and the plan are left to the embedding stream.
    public let isEmbedded: Bool
    /// What starts every test description (`page_fault: `), so that the
    /// program's lines say whose they are in a larger stream.
    public let prefix: String
    private let state = Mutex(Counts())

    /// A reporter; unless embedded, writes the header and then `header`
    /// as diagnostics.
    public init(prefix: String = "", header: [String] = []) {
        self.prefix = prefix
        isEmbedded = getenv(Self.embeddedVariable).map { String(cString: $0) } == "1"
        if !isEmbedded { OutputLine.write("TAP version 13") }
        for line in header { diagnostic(line) }
    }

    /// The counts so far.
    public var counts: Counts { state.withLock { $0 } }

    /// `ok - description`.
    public func pass(_ description: String) {
        state.withLock { $0.passed += 1 }
        OutputLine.write("ok - " + oneLine(description))
    }

    /// `not ok - description`.
    public func fail(_ description: String) {
        state.withLock { $0.failed += 1 }
        OutputLine.write("not ok - " + oneLine(description))
    }

    /// `ok - description # SKIP reason`: a test that cannot run here, never
    /// counted as passed.
    public func skip(_ description: String, because reason: String) {
        state.withLock { $0.skipped += 1 }
        OutputLine.write("ok - \(oneLine(description)) # SKIP \(oneLine(reason, prefixed: false))")
    }

    /// A test that passed when `condition` holds; a failure says `what`
    /// and then `why`.
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

    /// A diagnostic: each line of `text` as `# line`.
    public func diagnostic(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            OutputLine.write(line.isEmpty ? "#" : "# " + line)
        }
    }

    /// Writes the plan (unless embedded) and returns the exit status: 1
    /// when a test failed or `requireTests` and none ran, else 0.
    public func finish(requireTests: Bool = false) -> CInt {
        let counts = self.counts
        if !isEmbedded { OutputLine.write("1..\(counts.total)") }
        return counts.failed == 0 && (counts.total > 0 || !requireTests) ? 0 : 1
    }

    /// The whole program skipped (no device, not root): a skip-all plan
    /// alone, or embedded a single skipped line named `name`.
    public func skipAll(_ name: String, because reason: String) {
        if isEmbedded {
            state.withLock { $0.skipped += 1 }
            OutputLine.write("ok - \(oneLine(name, prefixed: false)) # SKIP \(oneLine(reason, prefixed: false))")
        } else {
            OutputLine.write("1..0 # SKIP \(oneLine(reason, prefixed: false))")
        }
    }

    /// A description on one line (a newline would end the test line),
    /// after the prefix.
    private func oneLine(_ text: String, prefixed: Bool = true) -> String {
        let line = text.contains("\n") ? text.split(separator: "\n").joined(separator: " ") : text
        return prefixed ? prefix + line : line
    }
}
