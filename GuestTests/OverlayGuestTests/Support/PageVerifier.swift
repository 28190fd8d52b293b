// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting

/// Compares pages of a mapping with an `ExpectedView` and reports each
/// differing page with what it showed and what it should have shown.
/// One verifier per thread (it owns scratch pages).
final class PageVerifier {
    let label: String
    let view: ExpectedView
    private(set) var mismatches = 0
    private let reportLimit: Int
    private let actual = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    private let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)

    init(_ label: String, view: ExpectedView, reportLimit: Int = 8) {
        self.label = label
        self.view = view
        self.reportLimit = reportLimit
    }

    deinit {
        actual.deallocate()
        scratch.deallocate()
    }

    /// Reads file page `page` of `mapping` (first touch included) and
    /// compares it; returns whether it matched.
    @discardableResult
    func check(_ mapping: MappedFile, filePage page: Int) -> Bool {
        let signal = mapping.read(filePage: page, into: actual)
        return check(filePage: page, content: UnsafeRawPointer(actual), signal: signal,
                     address: mapping.pointer(toFilePage: page))
    }

    /// Compares `content` (or the signal reading it raised) with what file
    /// page `page` must show.
    @discardableResult
    func check(filePage page: Int, content: UnsafeRawPointer, signal: Int32, address: UnsafeRawPointer? = nil) -> Bool {
        let expectation = view.expectation(forFilePage: page)
        var matches: Bool
        switch expectation {
        case .sigbus:
            matches = signal == SIGBUS
        case .written(let bytes, _):
            matches = signal == 0 && bytes.withUnsafeBytes { memcmp(content, $0.baseAddress!, pageSize) } == 0
        case .filePage(let image, let filePage):
            do {
                let expected = try image.page(filePage, scratch: scratch)
                matches = signal == 0 && memcmp(content, expected, pageSize) == 0
            } catch {
                Log.fail("\(label): cannot read the expected data: \(error)")
                return false
            }
        }
        if !matches {
            mismatches += 1
            if mismatches <= reportLimit {
                let at = address.map { " (address 0x\(hex(UInt(bitPattern: $0))))" } ?? ""
                let shows = signal != 0 ? signalName(signal) : describe(content, page: page, expectation: expectation)
                Log.fail("\(label): file page \(page)\(at) shows \(shows), expected \(expectation.label)")
            }
        }
        return matches
    }

    /// Reports how many mismatches were not printed; returns whether all matched.
    @discardableResult
    func finish() -> Bool {
        if mismatches > reportLimit {
            Log.fail("\(label): \(mismatches - reportLimit) more pages differ")
        }
        return mismatches == 0
    }

    /// Names what a page holds: a page of a known file, zeros, or unknown
    /// bytes with the first difference from the expected page.
    private func describe(_ content: UnsafeRawPointer, page: Int, expectation: Expectation) -> String {
        for image in view.images where page < image.pageCount {
            if let candidate = try? image.page(page, scratch: scratch), memcmp(candidate, content, pageSize) == 0 {
                return "\(image.name) page \(page)"
            }
        }
        let bytes = content.assumingMemoryBound(to: UInt8.self)
        if (0..<pageSize).allSatisfy({ bytes[$0] == 0 }) { return "zeros" }
        if (0..<pageSize).allSatisfy({ bytes[$0] == 0xFF }) { return "all 0xFF" }
        for image in view.images where image.isLoaded {
            if let other = image.pagesEqual(to: content).first { return "\(image.name) page \(other)" }
        }
        var expected: UnsafeRawPointer? = nil
        switch expectation {
        case .filePage(let image, let filePage): expected = try? image.page(filePage, scratch: scratch)
        case .written(let written, _):
            return "unknown data" + written.withUnsafeBytes { firstDifference(bytes, $0.baseAddress!) }
        case .sigbus: break
        }
        return "unknown data" + (expected.map { firstDifference(bytes, $0) } ?? "")
    }

    private func firstDifference(_ bytes: UnsafePointer<UInt8>, _ expected: UnsafeRawPointer) -> String {
        let want = expected.assumingMemoryBound(to: UInt8.self)
        var differing = 0
        var first = -1
        for i in 0..<pageSize where bytes[i] != want[i] {
            if first < 0 { first = i }
            differing += 1
        }
        guard first >= 0 else { return "" }
        return " (\(differing) bytes differ, first at offset \(first): 0x\(hex(bytes[first])), expected 0x\(hex(want[first])))"
    }
}

/// Checks every page of `mapping` (in `order` if given: file pages) against
/// `view`; returns whether all matched.
@discardableResult
func verifyPages(_ mapping: MappedFile, _ view: ExpectedView, label: String, order: [Int]? = nil) -> Bool {
    let verifier = PageVerifier(label, view: view)
    for page in order ?? Array(mapping.filePages) {
        verifier.check(mapping, filePage: page)
    }
    return verifier.finish()
}

/// The contents of a mapping copied out page by page (touching each page
/// once, before the expected data is read), with the signal each page raised.
struct MappingSnapshot {
    let mapping: MappedFile
    private(set) var bytes: [UInt8]
    private(set) var signals: [Int32]

    init(_ mapping: MappedFile) {
        self.mapping = mapping
        bytes = [UInt8](repeating: 0, count: mapping.length)
        signals = []
        signals.reserveCapacity(mapping.pageCount)
        bytes.withUnsafeMutableBytes { buffer in
            for (index, page) in mapping.filePages.enumerated() {
                signals.append(mapping.read(filePage: page, into: buffer.baseAddress! + index * pageSize))
            }
        }
    }

    /// Compares the snapshot with `view`; returns whether all matched.
    @discardableResult
    func verify(_ view: ExpectedView, label: String) -> Bool {
        let verifier = PageVerifier(label, view: view)
        bytes.withUnsafeBytes { buffer in
            for (index, page) in mapping.filePages.enumerated() {
                verifier.check(filePage: page, content: buffer.baseAddress! + index * pageSize,
                               signal: signals[index], address: mapping.pointer(toFilePage: page))
            }
        }
        return verifier.finish()
    }
}
