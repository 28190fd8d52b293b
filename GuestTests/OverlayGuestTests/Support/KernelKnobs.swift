// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit

/// sysctl and sysfs settings a scenario changes for a while (ksmd's pace,
/// khugepaged's, NUMA balancing): each keeps the value it found, and
/// `restore()` writes them back in reverse order, because the scenarios
/// that run later share the guest.
final class KernelKnobs {
    private var saved: [(path: String, value: String)] = []

    /// The knob's value now, without surrounding whitespace; nil when the
    /// kernel lacks it.
    static func value(_ path: String) -> String? {
        SystemFiles.read(path).map { String($0.filter { !$0.isNewline }) }
    }

    /// An integer knob or counter (nil when missing or not a number).
    static func integer(_ path: String) -> Int? {
        value(path).flatMap { Int($0.filter { !$0.isWhitespace }) }
    }

    /// Sets `path` to `value`, remembering the old value the first time.
    func set(_ path: String, _ value: String) throws {
        guard let old = KernelKnobs.value(path) else { throw TestFailure("\(path) cannot be read") }
        if !saved.contains(where: { $0.path == path }) { saved.append((path, KernelKnobs.selected(old))) }
        try SystemFiles.write(path, value)
    }

    /// Writes every remembered value back (a failure to restore is a failure).
    func restore() {
        for (path, value) in saved.reversed() {
            do { try SystemFiles.write(path, value) } catch { Log.fail("restore \(path) to '\(value)': \(error)") }
        }
        saved = []
    }

    /// What to write back for a sysfs choice list such as
    /// "always [madvise] never": the bracketed choice.
    private static func selected(_ value: String) -> String {
        guard let open = value.firstIndex(of: "["), let close = value.firstIndex(of: "]"), open < close else { return value }
        return String(value[value.index(after: open)..<close])
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass;
    /// returns whether it held.
    static func await(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Stopwatch.nowSeconds() + seconds
        while !condition() {
            if Stopwatch.nowSeconds() >= deadline { return false }
            Stopwatch.sleep(seconds: 0.05)
        }
        return true
    }
}
