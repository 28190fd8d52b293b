// SPDX-License-Identifier: GPL-2.0-or-later

/// What one repetition of a ``BenchCase`` measured, in one child process.
struct BenchSample: Sendable, Equatable {
    /// Everything before the first touch: opening, mapping, the ioctl or
    /// the mmap calls, registering and starting the handler, or reading the
    /// files.
    var setupNanoseconds: UInt64 = 0
    /// The untimed fill of a warm overlay's own page cache: a first touch
    /// with the layers cached but the overlay new.
    var warmupTouchNanoseconds: UInt64?
    /// Every page read once.
    var touchNanoseconds: UInt64?
    /// Then every page written once.
    var writeTouchNanoseconds: UInt64?
    /// VMAs overlapping the view (/proc/self/maps).
    var vmas: Int?
    /// Growth of the process's Rss (/proc/self/smaps_rollup) from before
    /// setup to after the read touch (setup-only runs: after setup), KiB.
    var rssKiB: Int?
    /// Growth of its anonymous memory over the same span, KiB.
    var anonymousKiB: Int?
    /// Growth of the page cache (/proc/meminfo `Cached`) over the same
    /// span, KiB; cold runs only (after a warm start it says nothing).
    var cacheKiB: Int?
    /// Whether the pages read showed what they should (see
    /// ``BenchDataFiles/expectedChecksum(layout:composed:)``).
    var contentsMatch: Bool?

    /// The sample as `key=value` lines, for the pipe from the child.
    var encoded: String {
        var lines = ["setup=\(setupNanoseconds)"]
        func add(_ key: String, _ value: (some CustomStringConvertible)?) {
            if let value { lines.append("\(key)=\(value)") }
        }
        add("warmup", warmupTouchNanoseconds)
        add("touch", touchNanoseconds)
        add("write", writeTouchNanoseconds)
        add("vmas", vmas)
        add("rss", rssKiB)
        add("anon", anonymousKiB)
        add("cache", cacheKiB)
        add("match", contentsMatch)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses ``encoded``.
    init?(encoded text: String) {
        var values: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals]] = line[line.index(after: equals)...]
        }
        guard let setup = values["setup"].flatMap({ UInt64($0) }) else { return nil }
        setupNanoseconds = setup
        warmupTouchNanoseconds = values["warmup"].flatMap { UInt64($0) }
        touchNanoseconds = values["touch"].flatMap { UInt64($0) }
        writeTouchNanoseconds = values["write"].flatMap { UInt64($0) }
        vmas = values["vmas"].flatMap { Int($0) }
        rssKiB = values["rss"].flatMap { Int($0) }
        anonymousKiB = values["anon"].flatMap { Int($0) }
        cacheKiB = values["cache"].flatMap { Int($0) }
        contentsMatch = values["match"].flatMap { Bool(String($0)) }
    }

    init() {}
}
