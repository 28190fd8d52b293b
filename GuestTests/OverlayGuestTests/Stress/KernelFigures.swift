// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// What must return to where it started after a stress part: the module's
/// live objects (debugfs `stats`), unreclaimable slab and vmalloc memory
/// (/proc/meminfo) and this process's open descriptors.
struct KernelFigures: Equatable, CustomStringConvertible {
    static let statsPath = "/sys/kernel/debug/batch_syscalls/stats"

    /// `overlays= shareable= files= ids=` of the module's stats.
    var module: [String: Int]
    /// /proc/meminfo, KiB.
    var slabUnreclaimableKiB: Int
    var vmallocUsedKiB: Int
    var descriptors: Int

    static func read() -> KernelFigures {
        KernelFigures(module: moduleStats(), slabUnreclaimableKiB: memoryInfo("SUnreclaim"),
                      vmallocUsedKiB: memoryInfo("VmallocUsed"), descriptors: openDescriptors())
    }

    /// The module's counters; empty when debugfs does not have them.
    static func moduleStats() -> [String: Int] {
        var stats: [String: Int] = [:]
        for field in (SystemFiles.read(statsPath) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { stats[String(parts[0])] = value }
        }
        return stats
    }

    /// A /proc/meminfo field in KiB (-1 when missing).
    static func memoryInfo(_ name: String) -> Int {
        for line in (SystemFiles.read("/proc/meminfo") ?? "").split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// Entries of /proc/self/fd (the directory's own descriptor excluded).
    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        closedir(directory)
        return count - 1
    }

    var moduleText: String {
        ["overlays", "shareable", "files", "ids"].map { "\($0)=\(module[$0].map(String.init) ?? "?")" }.joined(separator: " ")
    }

    var description: String {
        "\(moduleText) SUnreclaim=\(slabUnreclaimableKiB) kB VmallocUsed=\(vmallocUsedKiB) kB descriptors=\(descriptors)"
    }

    /// Lets freed objects go (RCU callbacks, deferred fput, per-CPU slab
    /// caches drained by shrinking): sync, drop caches, then wait until the
    /// module's counters equal `target`'s (at most `timeout` seconds).
    static func settle(until target: [String: Int]? = nil, timeout: Double = 10) -> KernelFigures {
        sync()
        try? SystemFiles.write("/proc/sys/vm/drop_caches", "3")
        let deadline = monotonicSeconds() + timeout
        while let target, moduleStats() != target, monotonicSeconds() < deadline {
            sleepSeconds(0.05)
        }
        sleepSeconds(0.2)
        // Slab shrink (drop_caches 2) frees empty slabs of the caches.
        try? SystemFiles.write("/proc/sys/vm/drop_caches", "3")
        return read()
    }
}
