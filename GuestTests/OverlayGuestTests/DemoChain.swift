// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The second part of `demo`: a snapshot chain (a base and three sparse
/// diffs, as `batch-syscalls sample-files --chain 3` writes them) restored with
/// one v2 request, and which layer serves which pages.
enum DemoChain {
    static let pages = 128

    /// Runs the part; returns whether every page showed what the model says.
    static func run(_ device: OverlayDevice) throws -> Bool {
        let directory = FilePath("demo-chain-\(getpid())")
        let generator = ChainGenerator(directory: directory, pages: pages, diffs: 3, seed: 1)
        try generator.write()
        defer {
            for path in [generator.basePath] + generator.diffPaths { unlink(path.string) }
            rmdir(directory.string)
        }
        let paths = [generator.basePath] + generator.diffPaths
        let files = try paths.map { try FileDescriptor.open($0, .readOnly) }
        defer { files.forEach { try? $0.close() } }
        let names = ["base"] + (1...3).map { "diff \($0)" }

        OutputLine.write("")
        OutputLine.write("a snapshot chain: \(ChainGenerator.baseName) and three sparse diffs of \(pages) pages")
        var sets: [PageSet] = []
        for (index, file) in files.enumerated() {
            let extents = try SegmentList(dataExtentsOf: file)
            if index > 0 { sets.append(PageSet(extents)) }
            let list = extents.ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            OutputLine.write("  \(DemoCommand.pad(names[index], 7)) data extents (SEEK_DATA): \(list.joined(separator: " "))")
        }
        let base = try MappedFile(path: generator.basePath, protection: [.read, .write])
        let clock = Stopwatch()
        let overlay = try device.stack(base: base, layers: files.dropFirst().map { .dataExtents(of: $0) })
        OutputLine.write("one v2 request (IOCTL_MEM_OVERLAY_STACK_CMD) laid all three in \(clock.elapsedNanoseconds / 1000) µs: "
                         + "overlay id \(overlay.id)")

        let view = ChainView(basePages: pages, layers: sets)
        let expected = view.servingLayers
        var shown: [String] = []
        var asExpected = true
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        for page in 0..<pages {
            let content = UnsafeRawPointer(base.page(atFilePage: page).baseAddress!)
            // The model's layer first: a hole matches every file's hole.
            var name = "other"
            for layer in [expected[page]] + (0...3).filter({ $0 != expected[page] }) {
                memset(buffer, 0, pageSize)
                _ = pread(files[layer].rawValue, buffer, pageSize, off_t(page * pageSize))
                if memcmp(buffer, content, pageSize) == 0 {
                    name = names[layer]
                    break
                }
            }
            if (0..<pageSize).allSatisfy({ content.load(fromByteOffset: $0, as: UInt8.self) == 0 }) { name += " (hole)" }
            if !name.hasPrefix(names[expected[page]]) { asExpected = false }
            shown.append(name)
        }
        OutputLine.write("pages 0..\(pages - 1) of the restored mapping, and the layer each shows:")
        DemoCommand.writeRuns(shown, firstPage: 0, width: 9)
        let served = view.pagesServed
        OutputLine.write("pages served: " + (0...3).map { "\(names[$0]) \(served[$0])" }.joined(separator: ", "))
        try overlay.remove()
        OutputLine.write("chain: " + (asExpected ? "every page shows the topmost layer holding data there"
                                                 : "NOT as the model says"))
        return asExpected
    }
}
