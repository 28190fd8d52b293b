// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// Results of many requests by kind ("create", "cleanup", "stack"): how
/// many succeeded and how many failed with each errno. Threads add to it
/// concurrently; `lines` prints it as `tally create: ok=.. EINVAL=..`.
final class Tally: @unchecked Sendable {
    private let counts = Locked<[String: [Int32: Int]]>([:])

    /// Counts one result of `kind`: nil or 0 for success.
    func add(_ kind: String, _ error: Errno?) {
        add(kind, code: error?.rawValue ?? 0)
    }

    func add(_ kind: String, code: Int32) {
        counts.withLock { $0[kind, default: [:]][code, default: 0] += 1 }
    }

    /// Adds every count of `other`.
    func merge(_ other: [String: [Int32: Int]]) {
        counts.withLock { mine in
            for (kind, codes) in other {
                for (code, count) in codes { mine[kind, default: [:]][code, default: 0] += count }
            }
        }
    }

    var snapshot: [String: [Int32: Int]] { counts.withLock { $0 } }

    /// Requests counted in all.
    var total: Int { snapshot.values.reduce(0) { $0 + $1.values.reduce(0, +) } }

    /// Successes of `kind`, and all results of it.
    func successes(_ kind: String) -> Int { snapshot[kind]?[0] ?? 0 }
    func count(_ kind: String) -> Int { snapshot[kind]?.values.reduce(0, +) ?? 0 }

    /// One line per kind, kinds sorted, errnos by name.
    var lines: [String] {
        snapshot.keys.sorted().map { kind in
            let codes = snapshot[kind]!
            var fields = ["ok=\(codes[0] ?? 0)"]
            for code in codes.keys.sorted() where code != 0 {
                fields.append("\(Errno(rawValue: code).name)=\(codes[code]!)")
            }
            let all = codes.values.reduce(0, +)
            return "tally \(kind): " + fields.joined(separator: " ") + " (\(all) in all)"
        }
    }
}

/// Small helpers every part draws with.
extension RandomNumberGenerator {
    /// A value below `bound` (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &self) }

    /// True with probability `percent`/100.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// One of `choices`.
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}
