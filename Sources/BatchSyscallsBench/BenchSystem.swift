// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import GuestTestKit
import SystemPackage

/// What the bench reads and changes of the system: procfs files, caches,
/// limits.
enum BenchSystem {
    /// Whether this process runs as root (dropping caches and raising
    /// `vm.max_map_count` need it).
    static var isRoot: Bool { geteuid() == 0 }

    /// `uname -r`.
    static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Online CPUs.
    static var cpuCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Waits (at most `limit` nanoseconds) until the kernel's unreclaimable
    /// slab memory stops shrinking: a child that exits with 100,000 VMAs
    /// leaves their freeing to RCU callbacks, which run for seconds in an
    /// emulated guest and would slow whatever runs next on the same CPU.
    static func settle(limit: UInt64 = 3_000_000_000) {
        let deadline = Stopwatch.now() + limit
        var previous = memoryInfo()["SUnreclaim"] ?? 0
        while Stopwatch.now() < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
            let current = memoryInfo()["SUnreclaim"] ?? 0
            // Within 256 KiB: what a quiet system drifts by.
            if current + 256 >= previous { return }
            previous = current
        }
    }

    /// `vm.max_map_count`: the most VMAs a process may have.
    static var maxMapCount: Int? {
        (try? TextFile.read("/proc/sys/vm/max_map_count")).flatMap { Int($0.benchTrimmed) }
    }

    /// Sets `vm.max_map_count` (root only).
    static func setMaxMapCount(_ count: Int) throws(Errno) {
        try TextFile.write("/proc/sys/vm/max_map_count", "\(count)")
    }

    /// Fields of /proc/meminfo in KiB (`Cached`, `AnonPages`, `MemTotal`, ...).
    static func memoryInfo() -> [String: Int] {
        guard let text = try? TextFile.read("/proc/meminfo") else { return [:] }
        return BenchKeyValues.parse(text)
    }
}

/// Parses `Key:   value kB` lines (/proc/meminfo, smaps_rollup, status).
enum BenchKeyValues {
    /// The first number after each `Key:`; lines without one are skipped.
    static func parse(_ text: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, let number = Int(first) { values[key] = number }
        }
        return values
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    var benchTrimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
