// SPDX-License-Identifier: GPL-2.0-or-later

/// The `--json` output: one object per measurement, one per line.
enum BenchJSON {
    /// A JSON value (enough for flat objects of numbers and strings).
    enum Value {
        case integer(Int)
        case unsigned(UInt64)
        case number(Double)
        case string(String)
        case bool(Bool)
        case null

        var text: String {
            switch self {
            case .integer(let value): "\(value)"
            case .unsigned(let value): "\(value)"
            case .number(let value): value.isFinite ? "\(value)" : "null"
            case .string(let value): BenchJSON.quoted(value)
            case .bool(let value): value ? "true" : "false"
            case .null: "null"
            }
        }
    }

    /// `{"key":value,...}` with the keys in the given order.
    static func object(_ fields: [(String, Value)]) -> String {
        "{" + fields.map { quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// The lines for all results.
    static func lines(_ results: BenchRunner.Results) -> [String] {
        (results.touch + results.setup).map(object(for:)) + results.sharing.map(object(for:))
    }

    /// A touch or setup-only measurement.
    static func object(for result: BenchResult) -> String {
        let benchCase = result.benchCase
        func optional(_ value: UInt64?) -> Value { value.map(Value.unsigned) ?? .null }
        func optional(_ value: Int?) -> Value { value.map(Value.integer) ?? .null }
        var fields: [(String, Value)] = [
            ("kind", .string(benchCase.kind.rawValue)),
            ("method", .string(benchCase.method.rawValue)),
            ("pages", .integer(benchCase.pages)),
            ("fragmentation", benchCase.method == .floor ? .null : .integer(benchCase.fragmentation)),
            ("segments", benchCase.method == .floor ? .integer(0) : .integer(benchCase.segments)),
            ("cache", .string(benchCase.cache.rawValue)),
            ("status", .string(result.error?.status ?? "ok")),
            ("setup_ns", optional(result.setupNanoseconds)),
            ("touch_ns", optional(result.touchNanoseconds)),
            ("write_touch_ns", optional(result.writeTouchNanoseconds)),
            ("vmas", optional(result.vmas)),
            ("rss_kib", optional(result.rssKiB)),
            ("anon_kib", optional(result.anonymousKiB)),
            ("cache_kib", optional(result.cacheKiB)),
            ("repetitions", .integer(result.samples.count)),
        ]
        if let warmup = result.warmupTouchNanoseconds { fields.append(("first_touch_ns", .unsigned(warmup))) }
        if let range = result.touchRange {
            fields.append(("touch_ns_min", .unsigned(range.lowerBound)))
            fields.append(("touch_ns_max", .unsigned(range.upperBound)))
        }
        if let match = result.contentsMatch { fields.append(("contents_match", .bool(match))) }
        if let error = result.error { fields.append(("reason", .string(error.reason))) }
        if !result.laterErrors.isEmpty {
            fields.append(("failed_repetitions", .integer(result.laterErrors.count)))
        }
        return BenchJSON.object(fields)
    }

    /// A sharing measurement.
    static func object(for result: BenchSharingResult) -> String {
        func optional(_ value: Int?) -> Value { value.map(Value.integer) ?? .null }
        var fields: [(String, Value)] = [
            ("kind", .string("sharing")),
            ("method", .string(result.method.rawValue)),
            ("pages", .integer(result.pages)),
            ("fragmentation", .integer(result.fragmentation)),
            ("processes", .integer(result.processes)),
            ("status", .string(result.error?.status ?? "ok")),
            ("total_kib", optional(result.totalKiB)),
            ("total_source", .string(result.totalSource)),
            ("cache_kib", optional(result.cacheKiB)),
            ("anon_kib", optional(result.anonymousKiB)),
            ("pss_kib", optional(result.pssKiB)),
            ("rss_kib", optional(result.rssKiB)),
            ("overlay_cached_pages", optional(result.overlayCachedPages)),
            ("repetitions", .integer(result.samples.count)),
        ]
        if let match = result.contentsMatch { fields.append(("contents_match", .bool(match))) }
        if let error = result.error { fields.append(("reason", .string(error.reason))) }
        return BenchJSON.object(fields)
    }
}
