// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// `demo`: the seed's page_fault example, shown as a table, then a snapshot
/// chain of three diffs restored with one v2 request (``DemoChain``), then
/// the same into an unmodified QEMU by pidfd (``DemoRemote``).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show which pages of an overlaid mapping show what (make demo runs it in the guest).",
        discussion: """
            Runs the seed's page_fault example and shows which pages of the overlaid mapping \
            show the overlay and which the base file, then what private writes do; then \
            restores a chain of three sparse diffs with one v2 request and shows which layer \
            serves which pages; then lays a chain over the guest RAM of an unmodified, stopped \
            QEMU by pidfd and shows what QEMU's own monitor dumps (when qemu-system-x86_64 is \
            in the working directory or on PATH). Needs root, the module loaded and the sample files in the \
            working directory. Exits 1 when a page does not show what it should.
            """
    )

    func run() throws {
        throw ExitCode(Self.show())
    }

    static func show() -> Int32 {
        do {
            let device = try OverlayDevice.openForScenario()
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let (data, base, overlay) = (fixture.data, fixture.base, fixture.overlay)
            let id = try device.overlay(base: base, overlay: overlay, segments: seedSegments)
            OutputLine.write("overlay id \(id); segments \(seedSegments.map { "{\($0.lowerBound)..\($0.upperBound)}" }.joined(separator: " "))")
            var view = ExpectedView(base: data.base).overlaid(data.overlay, seedSegments)
            var asExpected = true

            OutputLine.write("pages 0..150 of the overlaid mapping of base.bin:")
            var runs: [(first: Int, last: Int, shows: String)] = []
            for page in 0...150 {
                let shows = classify(base, page: page, view: view)
                if let last = runs.last, last.shows == shows, last.last == page - 1 {
                    runs[runs.count - 1].last = page
                } else {
                    runs.append((page, page, shows))
                }
                if shows != expectedName(view, page: page) { asExpected = false }
            }
            for run in runs {
                let pages = run.first == run.last ? "\(run.first)" : "\(run.first)-\(run.last)"
                OutputLine.write("  " + pad(pages, 9) + run.shows)
            }

            var generator = freshGenerator()
            for page in [5, 10] {
                let bytes = generator.page()
                _ = base.write(filePage: page, bytes: bytes)
                view.write(page: page, bytes: bytes, what: "written")
            }
            OutputLine.write("after writing random data to pages 5 and 10:")
            for page in [4, 5, 6, 10, 11] {
                let shows = classify(base, page: page, view: view)
                let expected = expectedName(view, page: page)
                if shows != expected { asExpected = false }
                OutputLine.write("  page " + pad("\(page)", 4) + pad(shows, 9) + "(expected \(expected))")
            }
            let cleanup = errnoCode(try device.cleanup(id))
            OutputLine.write("cleanup: \(Errno.describe(cleanup))")
            if cleanup != 0 { asExpected = false }
            if !(try DemoChain.run(device)) { asExpected = false }
            if !(try DemoRemote.run(device)) { asExpected = false }
            OutputLine.write(asExpected ? "result: as expected" : "result: NOT as expected")
            return asExpected ? 0 : 1
        } catch {
            OutputLine.write("demo: \(error)", to: OutputLine.standardError)
            return 1
        }
    }

    /// What a page shows: "overlay", "base", "written" or "other".
    static func classify(_ mapping: MappedFile, page: Int, view: ExpectedView) -> String {
        let content = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { content.deallocate() }
        let signal = mapping.read(filePage: page, into: content)
        if signal != 0 { return signalName(signal) }
        if let written = view.written[page], written.bytes.withUnsafeBytes({ memcmp(content, $0.baseAddress!, pageSize) }) == 0 {
            return "written"
        }
        for (image, name) in [(view.layers.first!.image, "overlay"), (view.base, "base")] {
            if image.bytes(ofPage: page).withUnsafeBytes({ memcmp(content, $0.baseAddress!, pageSize) }) == 0 { return name }
        }
        return "other"
    }

    static func expectedName(_ view: ExpectedView, page: Int) -> String {
        if view.written[page] != nil { return "written" }
        return view.layer(servingPage: page) === view.base ? "base" : "overlay"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(1, width - text.count))
    }

    /// Prints what each page shows (`shown[i]` for page `firstPage + i`),
    /// one line per run of pages that show the same.
    static func writeRuns(_ shown: [String], firstPage: Int, width: Int) {
        var start = 0
        for index in 1...shown.count where index == shown.count || shown[index] != shown[start] {
            let range = index - 1 == start ? "\(firstPage + start)" : "\(firstPage + start)-\(firstPage + index - 1)"
            OutputLine.write("  \(pad(range, width))\(shown[start])")
            start = index
        }
    }
}
