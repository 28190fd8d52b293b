// SPDX-License-Identifier: GPL-2.0-or-later
import FoundationEssentials

/// The `--json` output: one object per measurement, one per line, encoded
/// by Foundation's JSONEncoder (keys sorted, so every line reads alike).
enum BenchJSON {
    /// A JSON value (enough for flat objects of numbers and strings).
    enum Value: Encodable {
        case integer(Int)
        case unsigned(UInt64)
        case number(Double)
        case string(String)
        case bool(Bool)
        case null

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .integer(let value): try container.encode(value)
            case .unsigned(let value): try container.encode(value)
            case .number(let value) where value.isFinite: try container.encode(value)
            case .number: try container.encodeNil()
            case .string(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            case .null: try container.encodeNil()
            }
        }
    }

    /// An object of the given fields.
    private struct Object: Encodable {
        let fields: [(String, Value)]

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in fields { try container.encode(value, forKey: Key(stringValue: key)) }
        }
    }

    /// `{"key":value,...}` on one line.
    static func object(_ fields: [(String, Value)]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding numbers, strings, booleans and nulls cannot fail.
        let data = (try? encoder.encode(Object(fields: fields))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The lines for all results.
    static func lines(_ results: BenchRunner.Results) -> [String] {
        (results.touch + results.setup).map(object(for:)) + results.sharing.map(object(for:))
            + BenchRestoreTables(results: results.restores).jsonLines + BenchReadyTables(outcome: results.ready).jsonLines
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
