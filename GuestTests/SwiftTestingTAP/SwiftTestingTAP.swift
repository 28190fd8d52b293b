// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import FoundationEssentials
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// `swift-testing-tap`: a Swift Testing run's event stream (the test
/// binary's `--event-stream-output-path`, JSON lines) as TAP, one line per
/// test function: how `make test` reports the library's suite, on the host
/// and in the guest, without reading the console's text.
@main
struct SwiftTestingTAP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-testing-tap",
        abstract: "Print a Swift Testing event stream as TAP, one line per test function.",
        discussion: """
            A test that ended with no issue is `ok`, one with issues `not ok` with each \
            issue as a diagnostic, a skipped one `ok ... # SKIP reason`; an issue recorded \
            outside any test is a failing line of its own. The stream is event stream \
            version 0 (`--event-stream-version 0`). Exits 1 when a test failed or the \
            stream holds no test.

            EXAMPLES:
              The library's tests in the guest:
                ./batch-syscallsPackageTests.xctest --testing-library swift-testing \\
                    --event-stream-output-path events.jsonl --event-stream-version 0
                swift-testing-tap events.jsonl --prefix 'MemoryOverlay: '
            """
    )

    @Argument(help: ArgumentHelp("The event stream, one JSON record a line.", valueName: "events"))
    var path: String

    @Option(help: ArgumentHelp("What starts every test line.", valueName: "text"))
    var prefix = ""

    func run() throws {
        let text: String
        do {
            text = try TextFile.read(FilePath(path))
        } catch {
            throw ValidationError("cannot read \(path): \(error)")
        }
        var stream = EventStream()
        let decoder = JSONDecoder()
        for line in text.split(separator: "\n") where !line.isEmpty {
            stream.add(try decoder.decode(EventStream.Record.self, from: Data(line.utf8)))
        }
        let reporter = TAPReporter(prefix: prefix)
        for result in stream.results {
            switch result.outcome {
            case .passed: reporter.pass(result.name)
            case .skipped(let reason): reporter.skip(result.name, because: reason)
            case .failed(let issues):
                reporter.fail(result.name)
                for issue in issues { reporter.diagnostic(issue) }
            }
        }
        throw ExitCode(reporter.finish(requireTests: true))
    }
}
