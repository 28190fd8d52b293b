// SPDX-License-Identifier: GPL-2.0-or-later
import FoundationEssentials

/// The tests of a Swift Testing event stream (version 0) and how each
/// ended, in the order they ended.
struct EventStream {
    /// One line of the stream: a test or an event.
    struct Record: Decodable {
        var kind: String
        var payload: Payload
    }

    /// The fields of a test or an event that the report needs.
    struct Payload: Decodable {
        /// A test's `suite` or `function`; an event's kind (`testEnded`, ...).
        var kind: String
        /// A test's id.
        var id: String?
        var name: String?
        var displayName: String?
        /// The test an event is about.
        var testID: String?
        var messages: [Message]?
        /// A skip's comments (its reason).
        var comments: [String]?

        enum CodingKeys: String, CodingKey {
            case kind, id, name, displayName, testID, messages
            case comments = "_comments"
        }
    }

    /// A line of an event's text: `symbol` says what kind (`pass`, `fail`,
    /// `skip`, `details`, ...).
    struct Message: Decodable {
        var symbol: String
        var text: String
    }

    /// How a test function ended.
    enum Outcome {
        case passed
        case failed([String])
        case skipped(String)
    }

    /// One test function's line.
    struct Result {
        var name: String
        var outcome: Outcome
    }

    private(set) var results: [Result] = []
    private var suites: [String: String] = [:]
    private var functions: [String: String] = [:]
    private var issues: [String: [String]] = [:]
    private var issuesOutsideTests: [String] = []

    mutating func add(_ record: Record) {
        let payload = record.payload
        if record.kind == "test" {
            guard let id = payload.id else { return }
            let name = payload.displayName ?? payload.name ?? id
            if payload.kind == "suite" { suites[id] = name } else { functions[id] = name }
            return
        }
        let texts = (payload.messages ?? []).map(\.text)
        switch payload.kind {
        case "issueRecorded":
            if let id = payload.testID, functions[id] != nil || suites[id] != nil {
                issues[id, default: []] += texts
            } else {
                issuesOutsideTests += texts
            }
        case "testSkipped":
            guard let id = payload.testID, functions[id] != nil else { return }
            let reason = payload.comments?.first ?? texts.first ?? "skipped"
            results.append(Result(name: name(of: id), outcome: .skipped(reason)))
        case "testEnded":
            guard let id = payload.testID else { return }
            if functions[id] != nil {
                let failed = !(issues[id] ?? []).isEmpty || payload.messages?.contains { $0.symbol == "fail" } == true
                let outcome: Outcome = failed ? .failed((issues[id] ?? []) + texts) : .passed
                results.append(Result(name: name(of: id), outcome: outcome))
            } else if let suiteIssues = issues[id], !suiteIssues.isEmpty {
                // A suite's own issue (its initialiser threw, say).
                results.append(Result(name: suites[id] ?? id, outcome: .failed(suiteIssues)))
            }
        case "runEnded":
            if !issuesOutsideTests.isEmpty {
                results.append(Result(name: "issues recorded outside any test", outcome: .failed(issuesOutsideTests)))
            }
        default:
            break
        }
    }

    /// "Suite: test": the innermost suite whose id leads the test's.
    private func name(of id: String) -> String {
        let function = functions[id] ?? id
        let suite = suites.keys.filter { id.hasPrefix($0 + "/") }.max { $0.count < $1.count }
        return suite.map { "\(suites[$0]!): \(function)" } ?? function
    }
}
