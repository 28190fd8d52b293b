// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit

/// What must return to where it started after a stress part: the module's
/// live objects (debugfs `stats`), unreclaimable slab and vmalloc memory
/// (/proc/meminfo) and this process's open descriptors.
struct KernelFigures: Equatable, CustomStringConvertible {
    static let statsPath = "/sys/kernel/debug/batch_syscalls/stats"
    /// The slab cache of the kernel's vmalloc bookkeeping. vfree frees
    /// lazily: a freed area keeps its `vmap_area` record until a purge,
    /// which comes once tens of MiB of them have piled up. Every exited
    /// process's kernel stack is such an area, so fork and exit alone grow
    /// this cache by about 120 bytes a process until the purge (measured
    /// in the guest with no module loaded: +820 kB after 4,000 runs of
    /// /bin/true, then back down; after a 3,000-round soak 2,456 records,
    /// and 189 once a module load had the kernel purge them, as before the
    /// soak). Counted apart from the slab that must return.
    static let lazyVmallocCache = "vmap_area"

    /// The module's stats (`overlays= shareable= files= ids= lowers=
    /// shareable_lowers= unused_lowers=`).
    var module: [String: Int]
    /// /proc/meminfo, KiB.
    var slabUnreclaimableKiB: Int
    var vmallocUsedKiB: Int
    var descriptors: Int
    /// KiB of slab pages per cache (/proc/slabinfo); empty when unreadable.
    var slabCaches: [String: Int]

    /// The lazily freed vmalloc areas' records, KiB (0 when not listed).
    var lazyVmallocKiB: Int { slabCaches[Self.lazyVmallocCache] ?? 0 }
    /// Unreclaimable slab but the lazily freed vmalloc areas' records: what
    /// the soak requires to return.
    var slabCheckedKiB: Int { slabUnreclaimableKiB - lazyVmallocKiB }

    static func read() -> KernelFigures {
        KernelFigures(module: moduleStats(), slabUnreclaimableKiB: memoryInfo("SUnreclaim"),
                      vmallocUsedKiB: memoryInfo("VmallocUsed"), descriptors: openDescriptors(),
                      slabCaches: slabCachePages())
    }

    /// Each cache's slab pages in KiB, from /proc/slabinfo (root only):
    /// `name active num objsize perslab pagesperslab : tunables .. :
    /// slabdata active_slabs num_slabs shared`, so num_slabs ×
    /// pagesperslab pages, as SUnreclaim counts them.
    static func slabCachePages() -> [String: Int] {
        let pageKiB = sysconf(Int32(_SC_PAGESIZE)) / 1024
        var caches: [String: Int] = [:]
        for line in (SystemFiles.read("/proc/slabinfo") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 6, let pagesPerSlab = Int(fields[5]),
                  let data = fields.firstIndex(of: "slabdata"), data + 2 < fields.count,
                  let slabs = Int(fields[data + 2]) else { continue }
            caches[String(fields[0]), default: 0] += slabs * pagesPerSlab * pageKiB
        }
        return caches
    }

    /// The caches that grew most from `before` to `after`, for a report.
    static func largestGrowth(from before: KernelFigures, to after: KernelFigures, count: Int = 8) -> String {
        after.slabCaches.map { ($0.key, $0.value - (before.slabCaches[$0.key] ?? 0)) }
            .filter { $0.1 != 0 }
            .sorted { $0.1 > $1.1 }
            .prefix(count)
            .map { "\($0.0) \($0.1 > 0 ? "+" : "")\($0.1) kB" }
            .joined(separator: ", ")
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
        ["overlays", "shareable", "files", "ids", "lowers", "shareable_lowers", "unused_lowers"].map { "\($0)=\(module[$0].map(String.init) ?? "?")" }.joined(separator: " ")
    }

    var description: String {
        "\(moduleText) SUnreclaim=\(slabUnreclaimableKiB) kB (\(Self.lazyVmallocCache) \(lazyVmallocKiB) kB) "
            + "VmallocUsed=\(vmallocUsedKiB) kB descriptors=\(descriptors)"
    }

    /// Lets freed objects go (RCU callbacks, deferred fput, per-CPU slab
    /// caches drained by shrinking): sync, drop caches, evict the unused
    /// lower stacks, then wait until the module's counters equal `target`'s
    /// with none unused (at most `timeout` seconds).
    static func settle(until target: [String: Int]? = nil, timeout: Double = 10) -> KernelFigures {
        sync()
        try? SystemFiles.write("/proc/sys/vm/drop_caches", "3")
        // Lower stacks nothing uses stay for the next restore of their
        // chain on purpose (their memory too): none while measuring.
        // Writing 0 evicts them and keeps none; the value comes back after.
        let keepSeconds = SystemFiles.read(FleetScenarios.LowerKeepSeconds.path)
        if keepSeconds != nil { try? SystemFiles.write(FleetScenarios.LowerKeepSeconds.path, "0") }
        defer {
            if let keepSeconds { try? SystemFiles.write(FleetScenarios.LowerKeepSeconds.path, keepSeconds) }
        }
        let deadline = Stopwatch.nowSeconds() + timeout
        while Stopwatch.nowSeconds() < deadline {
            let stats = moduleStats()
            if stats["unused_lowers", default: 0] == 0 && (target == nil || stats == target) { break }
            Stopwatch.sleep(seconds: 0.05)
        }
        Stopwatch.sleep(seconds: 0.2)
        // Slab shrink (drop_caches 2) frees empty slabs of the caches.
        try? SystemFiles.write("/proc/sys/vm/drop_caches", "3")
        return read()
    }
}
