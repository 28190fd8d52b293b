// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The time-to-ready case of `bench`: a restore of a base and three sparse
/// diffs is ready when every page of its working set (25 % of the pages,
/// 1,000 clusters) has been read. One run of the overlay touches the
/// working set and its loading set is recorded from the page tables; then
/// each method is timed from its first call until the last working-set
/// page is read (visited in another order than recorded), with caches
/// dropped (cold) and right after that again (warm). Each run is a child
/// process of its own; the numbers are medians.
struct BenchReady {
    let layout: BenchReadyLayout
    let files: BenchReadyFiles
    let repetitions: Int
    let caches: [BenchCache]
    let timeout: Int
    let log: (String) -> Void

    init(configuration: BenchConfiguration, log: @escaping (String) -> Void) {
        layout = BenchReadyLayout(pages: configuration.readyPages)
        files = BenchReadyFiles(directory: configuration.directory, layout: layout)
        repetitions = configuration.readyRepetitions
        caches = configuration.caches
        timeout = configuration.timeout
        self.log = log
    }

    /// Working-set pages compared in full with the merged file after each
    /// run (the checksum covers the first 16 bytes of every one).
    static let comparedPages = 64

    /// One method in one cache state, over the repetitions.
    struct Result: Sendable {
        let method: BenchReadyMethod
        let cache: BenchCache
        var samples: [Sample] = []
        var contentsMatch = true
        var error: BenchError?

        /// One run: nanoseconds from the first call to the end of setup and
        /// to the last working-set page read; the process's faults (its
        /// handler thread's included); KiB read from block devices.
        struct Sample: Sendable, Equatable {
            var setup: UInt64
            var ready: UInt64
            var majorFaults: UInt64
            var minorFaults: UInt64
            var diskKiB: UInt64
        }

        var medianSetup: UInt64? { Self.median(samples.map(\.setup)) }
        var medianReady: UInt64? { Self.median(samples.map(\.ready)) }
        var medianMajorFaults: UInt64? { Self.median(samples.map(\.majorFaults)) }
        var medianMinorFaults: UInt64? { Self.median(samples.map(\.minorFaults)) }
        var medianDiskKiB: UInt64? { Self.median(samples.map(\.diskKiB)) }

        static func median(_ values: [UInt64]) -> UInt64? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted[sorted.count / 2]
        }
    }

    /// Everything the case found: the results, and the recorded loading
    /// set's size against the working set's.
    struct Outcome: Sendable {
        var results: [Result] = []
        var pages = 0
        var workingSetPages = 0
        var clusters = 0
        var loadingSetPages = 0
        var loadingSetRanges = 0
        var recordedBy = ""
    }

    func run() -> Outcome {
        var outcome = Outcome(pages: layout.pages)
        let workingSet = layout.workingSet
        outcome.clusters = workingSet.count
        outcome.workingSetPages = workingSet.reduce(0) { $0 + $1.count }
        func failAll(_ error: BenchError) -> Outcome {
            for cache in caches {
                outcome.results += BenchReadyMethod.allCases.map { Result(method: $0, cache: cache, error: error) }
            }
            return outcome
        }
        do {
            try files.prepare(log: log)
        } catch {
            return failAll(.call("writing the time-to-ready files", error))
        }
        let noDevice: BenchError? = BenchOverlaySetup.unavailability().map { .unavailable($0) }
        let noUserfaultfd: BenchError? = BenchUserfaultfdSetup.unavailability().map { .unavailable($0) }
        let loadingSet: LoadingSet
        do throws(BenchError) {
            (loadingSet, outcome.recordedBy) = try record(withOverlay: noDevice == nil)
        } catch {
            return failAll(error)
        }
        outcome.loadingSetPages = loadingSet.pageCount
        outcome.loadingSetRanges = loadingSet.ranges.count
        log("ready: loading set recorded by \(outcome.recordedBy): \(BenchFormat.grouped(loadingSet.pageCount)) pages "
            + "in \(BenchFormat.grouped(loadingSet.ranges.count)) ranges (working set "
            + "\(BenchFormat.grouped(outcome.workingSetPages)) pages in \(workingSet.count) clusters)")

        let input: BenchReadyInput
        do throws(BenchError) {
            input = try BenchReadyInput(files: files, loadingSet: loadingSet)
        } catch {
            return failAll(error)
        }
        let order = layout.touchOrder
        let expected = layout.expectedChecksum
        let compared = Self.sample(of: order, count: Self.comparedPages)
        // Cold first, then warm right after it: the warm run finds what
        // the cold one left in the caches.
        let states = [BenchCache.cold, .warm].filter(caches.contains)
        var results: [BenchCache: [Result]] = [:]
        for cache in states {
            results[cache] = BenchReadyMethod.allCases.map { method in
                var result = Result(method: method, cache: cache)
                if method.needsDevice { result.error = noDevice }
                if method == .userfaultfd { result.error = noUserfaultfd }
                if cache == .cold && !BenchSystem.isRoot { result.error = .skipped("dropping caches needs root") }
                return result
            }
        }
        for repetition in 1...max(1, repetitions) {
            for (index, method) in BenchReadyMethod.allCases.enumerated() {
                for cache in states where results[cache]![index].error == nil {
                    let child = BenchChildRun.run(timeout: timeout) { () throws(BenchError) in
                        try trial(method, input: input, cache: cache, order: order, expected: expected, compared: compared)
                    }
                    BenchSystem.settle()
                    let label = "ready \(method.rawValue) \(cache.rawValue) [\(repetition)/\(repetitions)]"
                    switch child {
                    case .success(let text):
                        let fields = text.split(separator: " ").map { UInt64($0) ?? 0 }
                        guard fields.count == 6 else {
                            results[cache]![index].error = .failed("unreadable result")
                            continue
                        }
                        let sample = Result.Sample(setup: fields[0], ready: fields[1], majorFaults: fields[2],
                                                   minorFaults: fields[3], diskKiB: fields[4])
                        results[cache]![index].samples.append(sample)
                        if fields[5] != 1 { results[cache]![index].contentsMatch = false }
                        log("\(label): setup \(BenchFormat.duration(sample.setup)), ready \(BenchFormat.duration(sample.ready)), "
                            + "\(sample.majorFaults) major + \(sample.minorFaults) minor faults, "
                            + "\(BenchFormat.mebibytes(Int(sample.diskKiB))) MiB read"
                            + (fields[5] == 1 ? "" : ", WRONG CONTENTS"))
                    case .failure(let error):
                        log("\(label): \(error)")
                        if results[cache]![index].samples.isEmpty { results[cache]![index].error = error }
                    }
                }
            }
        }
        for cache in states { outcome.results += results[cache]! }
        return outcome
    }

    /// Records the loading set: a child maps the view (by the overlay when
    /// the module is there, else the floor's mapping of the merged file:
    /// the same file pages), touches the working set in page order and
    /// writes what its page tables show into the loading-set file, which
    /// is then read back.
    private func record(withOverlay: Bool) throws(BenchError) -> (LoadingSet, String) {
        let method: BenchReadyMethod = withOverlay ? .overlay : .floor
        let path = files.loadingSet
        let order = layout.recordedOrder
        let child = BenchChildRun.run(timeout: timeout) { () throws(BenchError) in
            let input = try BenchReadyInput(files: files, loadingSet: .empty)
            let region = try input.setUp(method)
            _ = BenchTouch.read(region.address, pages: order)
            do throws(Errno) {
                try LoadingSet.recordResident(address: UInt(bitPattern: region.address), length: region.length,
                                              firstFilePage: 0).write(to: path)
            } catch {
                throw .call("recording the loading set into \(path)", error)
            }
            withExtendedLifetime(region) {}
            return ""
        }
        BenchSystem.settle()
        if case .failure(let error) = child { throw error }
        do {
            return (try LoadingSet(contentsOf: path), method.rawValue)
        } catch {
            throw .failed("reading the loading set \(path): \(error)")
        }
    }

    /// One run, in the child: "setup ready major minor diskKiB match".
    private func trial(_ method: BenchReadyMethod, input: BenchReadyInput, cache: BenchCache, order: [Int],
                       expected: UInt64, compared: [Int]) throws(BenchError) -> String {
        if method == .overlayLoadingSet || method == .overlayPopulate, input.loadingSet.isEmpty {
            throw .failed("the recorded loading set is empty")
        }
        if cache == .cold {
            do { try PageCache.drop() } catch { throw .skipped("cannot drop caches: \(error.name)") }
        }
        let readBefore = BenchReadyCounters.diskReadKiB()
        let faultsBefore = BenchReadyCounters.faults()
        let start = Stopwatch.now()
        let region = try input.setUp(method)
        let setup = Stopwatch.now() - start
        let sum = BenchTouch.read(region.address, pages: order)
        let ready = Stopwatch.now() - start
        let faultsAfter = BenchReadyCounters.faults()
        let readAfter = BenchReadyCounters.diskReadKiB()
        let matches = sum == expected && (try? Self.matchesMerged(region, pages: compared, merged: input.files.merged)) == true
        withExtendedLifetime(region) {}
        let read = readBefore.flatMap { before in readAfter.map { $0 &- before } } ?? 0
        return "\(setup) \(ready) \(faultsAfter.major &- faultsBefore.major) \(faultsAfter.minor &- faultsBefore.minor) "
            + "\(read) \(matches ? 1 : 0)"
    }

    /// `count` pages of `pages` spread evenly over it.
    static func sample(of pages: [Int], count: Int) -> [Int] {
        guard pages.count > count else { return pages }
        return (0..<count).map { pages[$0 * pages.count / count] }
    }

    /// Whether each of `pages` of the view equals the same page of the
    /// merged file, every byte.
    private static func matchesMerged(_ region: BenchRegion, pages: [Int], merged: FilePath) throws(Errno) -> Bool {
        let pageSize = MemoryPage.size
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        return try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(merged, .readOnly, options: .closeOnExec)
            return try descriptor.closeAfter {
                for page in pages {
                    guard try descriptor.read(fromAbsoluteOffset: Int64(page * pageSize), into: buffer) == pageSize,
                          memcmp(region.address + page * pageSize, buffer.baseAddress!, pageSize) == 0
                    else { return false }
                }
                return true
            }
        }
    }
}

/// What the time-to-ready runs count besides time.
enum BenchReadyCounters {
    /// KiB read from block devices so far, system-wide (`pgpgin` of
    /// /proc/vmstat): in the guest only the bench reads its disk. nil when
    /// unreadable.
    static func diskReadKiB() -> UInt64? {
        guard let text = try? TextFile.read("/proc/vmstat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("pgpgin ") {
            return UInt64(line.dropFirst("pgpgin ".count).benchTrimmed)
        }
        return nil
    }

    /// This process's major and minor faults so far, every thread's.
    static func faults() -> (major: UInt64, minor: UInt64) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return (UInt64(usage.ru_majflt), UInt64(usage.ru_minflt))
    }
}
