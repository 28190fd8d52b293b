// SPDX-License-Identifier: GPL-2.0-or-later

/// The measurement of one case over its repetitions: the median of each
/// number (robust against the odd slow run of a shared machine), or why
/// there is none.
struct BenchResult: Sendable {
    let benchCase: BenchCase
    /// The repetitions that produced numbers.
    let samples: [BenchSample]
    /// Set when no repetition produced numbers (the first repetition's
    /// error; the others are not attempted).
    let error: BenchError?
    /// Errors of repetitions after a first success (each rerun is a fresh
    /// child, so a later one may fail alone).
    let laterErrors: [BenchError]

    init(benchCase: BenchCase, samples: [BenchSample], error: BenchError?, laterErrors: [BenchError] = []) {
        self.benchCase = benchCase
        self.samples = samples
        self.error = samples.isEmpty ? error : nil
        self.laterErrors = laterErrors
    }

    var hasNumbers: Bool { !samples.isEmpty }

    var setupNanoseconds: UInt64? { benchMedian(samples.map(\.setupNanoseconds)) }
    var touchNanoseconds: UInt64? { benchMedian(samples.compactMap(\.touchNanoseconds)) }
    var writeTouchNanoseconds: UInt64? { benchMedian(samples.compactMap(\.writeTouchNanoseconds)) }
    var warmupTouchNanoseconds: UInt64? { benchMedian(samples.compactMap(\.warmupTouchNanoseconds)) }
    var vmas: Int? { benchMedian(samples.compactMap(\.vmas)) }
    var rssKiB: Int? { benchMedian(samples.compactMap(\.rssKiB)) }
    var anonymousKiB: Int? { benchMedian(samples.compactMap(\.anonymousKiB)) }
    var cacheKiB: Int? { benchMedian(samples.compactMap(\.cacheKiB)) }
    /// Touch time per page.
    var touchNanosecondsPerPage: Double? {
        touchNanoseconds.map { Double($0) / Double(benchCase.pages) }
    }
    /// False when any repetition's pages showed the wrong contents.
    var contentsMatch: Bool? {
        let checks = samples.compactMap(\.contentsMatch)
        return checks.isEmpty ? nil : !checks.contains(false)
    }
    /// Fastest and slowest read touch, for the spread.
    var touchRange: ClosedRange<UInt64>? {
        let values = samples.compactMap(\.touchNanoseconds)
        guard let low = values.min(), let high = values.max() else { return nil }
        return low...high
    }
}

/// The median: the middle value, or the mean of the two middle values.
func benchMedian<Value: BinaryInteger>(_ values: [Value]) -> Value? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The `percent`th percentile by nearest rank: the smallest value at least
/// `percent` % of the values do not exceed.
func benchPercentile<Value: BinaryInteger>(_ values: [Value], _ percent: Int) -> Value? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = (percent * sorted.count + 99) / 100
    return sorted[min(sorted.count, max(1, rank)) - 1]
}
