// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// The time-to-ready case's table (terminal and report), its report
/// section and its JSON lines.
struct BenchReadyTables {
    let outcome: BenchReady.Outcome

    /// `value` over `floor` as `1.07x`; `-` without both, or when the
    /// floor's is 0 (no ratio to a count of nothing).
    static func ratio(_ value: UInt64?, _ floor: UInt64?) -> String {
        guard let value, let floor, floor > 0 else { return "-" }
        return BenchFormat.ratio(Double(value) / Double(floor))
    }

    /// One row per method and cache state: each figure, and each against
    /// the floor's in the same cache state.
    var table: BenchTextTable {
        var table = BenchTextTable(headers: ["method", "cache", "setup", "ready", "vs floor", "major faults", "vs floor",
                                             "minor faults", "vs floor", "MiB read", "vs floor", "contents"],
                                   rightAligned: Set(2...10))
        for result in outcome.results {
            if let error = result.error {
                table.add([result.method.rawValue, result.cache.rawValue, error.status] + Array(repeating: "", count: 8)
                          + [error.reason])
                continue
            }
            let floor = outcome.results.first { $0.method == .floor && $0.cache == result.cache && $0.error == nil }
            func count(_ value: UInt64?) -> String { value.map { BenchFormat.grouped(Int($0)) } ?? "-" }
            table.add([result.method.rawValue, result.cache.rawValue,
                       BenchFormat.duration(result.medianSetup), BenchFormat.duration(result.medianReady),
                       Self.ratio(result.medianReady, floor?.medianReady),
                       count(result.medianMajorFaults), Self.ratio(result.medianMajorFaults, floor?.medianMajorFaults),
                       count(result.medianMinorFaults), Self.ratio(result.medianMinorFaults, floor?.medianMinorFaults),
                       BenchFormat.mebibytes(result.medianDiskKiB.map { Int($0) }),
                       Self.ratio(result.medianDiskKiB, floor?.medianDiskKiB),
                       result.contentsMatch ? "right" : "WRONG"])
        }
        return table
    }

    /// What the table's title line says about the run.
    var summary: String {
        "\(BenchFormat.grouped(outcome.pages)) pages (\((outcome.pages * MemoryPage.size) >> 20) MiB), working set "
            + "\(BenchFormat.grouped(outcome.workingSetPages)) pages in \(outcome.clusters) clusters, loading set "
            + "\(BenchFormat.grouped(outcome.loadingSetPages)) pages in \(BenchFormat.grouped(outcome.loadingSetRanges)) "
            + "ranges (recorded by \(outcome.recordedBy.isEmpty ? "-" : outcome.recordedBy))"
    }

    /// The report's section (none when the case did not run).
    var markdown: String {
        guard !outcome.results.isEmpty else { return "" }
        return """
            ## Time to ready

            A base and three sparse diffs (about 5 % dirty each, runs of 1 to 8 pages) restored, and the working \
            set read once: \(summary). Timed from each method's first call (the mmap, the request) until every \
            working-set page has been read, clusters in shuffled order and each cluster's pages backwards (not the \
            recorded order). *cold*: caches dropped before the run; *warm*: a run right after the cold one. Faults: \
            the process's (with the userfaultfd handler thread's), getrusage; *MiB read*: `pgpgin` of /proc/vmstat \
            over the run. *vs floor*: over the floor's in the same cache state (a plain mapping of the merged file). \
            Median of the runs.


            """ + table.markdown + "\n"
    }

    /// One JSON object per method and cache state.
    var jsonLines: [String] {
        outcome.results.map { result in
            func optional(_ value: UInt64?) -> BenchJSON.Value { value.map(BenchJSON.Value.unsigned) ?? .null }
            var fields: [(String, BenchJSON.Value)] = [
                ("kind", .string("ready")),
                ("method", .string(result.method.rawValue)),
                ("pages", .integer(outcome.pages)),
                ("working_set_pages", .integer(outcome.workingSetPages)),
                ("loading_set_pages", .integer(outcome.loadingSetPages)),
                ("cache", .string(result.cache.rawValue)),
                ("status", .string(result.error?.status ?? "ok")),
                ("setup_ns", optional(result.medianSetup)),
                ("ready_ns", optional(result.medianReady)),
                ("major_faults", optional(result.medianMajorFaults)),
                ("minor_faults", optional(result.medianMinorFaults)),
                ("disk_read_kib", optional(result.medianDiskKiB)),
                ("repetitions", .integer(result.samples.count)),
                ("contents_match", .bool(result.contentsMatch)),
            ]
            if let error = result.error { fields.append(("reason", .string(error.reason))) }
            return BenchJSON.object(fields)
        }
    }
}
