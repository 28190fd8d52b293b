// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The files of a snapshot chain as `restore` and `flatten` read them: the
/// base and each diff open for reading, the pages each diff serves (its
/// `--segments-for`, or its data extents found in userspace as the module
/// finds them), and the model of which layer serves each page.
final class ChainInput {
    /// One open file of the chain.
    struct File {
        /// As named on the command line.
        let name: String
        let descriptor: FileDescriptor
        /// Bytes.
        let size: Int
        /// Pages, the last partial one included.
        var pageCount: Int { MemoryPage.count(coveringBytes: size) }
    }

    /// One diff: its file and the pages it serves.
    struct Diff {
        let file: File
        /// The pages it serves (merged data extents, or the segments given).
        let pages: SegmentList
        /// Whether the pages came from `--segments-for` (else data extents).
        let specified: Bool
    }

    let base: File
    let diffs: [Diff]
    /// Which layer serves each page (0: the base; `i`: diff `i`).
    let view: ChainView

    /// Opens `basePath` and `diffPaths` and finds each diff's pages.
    ///
    /// - Throws: `ToolFailure` naming the file that cannot be opened, is not
    ///   a regular file or cannot report its data extents.
    init(basePath: String, diffPaths: [String], segmentsFor: [LayerSegments]) throws(ToolFailure) {
        var opened: [File] = []
        do throws(ToolFailure) {
            let base = try Self.open(basePath)
            opened.append(base)
            guard base.size > 0 else { throw ToolFailure("\(basePath): the file is empty") }
            var diffs: [Diff] = []
            for path in diffPaths {
                let file = try Self.open(path)
                opened.append(file)
                if let given = segmentsFor.last(where: { $0.diff == path }) {
                    diffs.append(Diff(file: file, pages: given.segments, specified: true))
                } else {
                    let extents: SegmentList
                    do {
                        extents = try SegmentList(dataExtentsOf: file.descriptor)
                    } catch {
                        throw ToolFailure("find the data extents of \(path) (FIEMAP, SEEK_DATA)", error)
                    }
                    diffs.append(Diff(file: file, pages: extents, specified: false))
                }
            }
            self.base = base
            self.diffs = diffs
            view = ChainView(basePages: base.pageCount, layers: diffs.map { PageSet($0.pages) })
        } catch {
            for file in opened { try? file.descriptor.close() }
            throw error
        }
    }

    deinit {
        try? base.descriptor.close()
        for diff in diffs { try? diff.file.descriptor.close() }
    }

    /// Opens a layer file for reading; it must be a regular file.
    private static func open(_ path: String) throws(ToolFailure) -> File {
        let descriptor: FileDescriptor
        do {
            descriptor = try Errno.rethrowing { try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) }
        } catch {
            throw ToolFailure("open \(path)", error)
        }
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else {
            let error = Errno(rawValue: errno)
            try? descriptor.close()
            throw ToolFailure("stat \(path)", error)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            try? descriptor.close()
            throw ToolFailure("\(path): not a regular file")
        }
        return File(name: path, descriptor: descriptor, size: Int(info.st_size))
    }

    /// The layers of the v2 request, lowest first.
    var layers: [Layer] {
        diffs.map { $0.specified ? Layer(file: $0.file.descriptor, segments: $0.pages) : .dataExtents(of: $0.file.descriptor) }
    }

    /// The file of layer `layer` (0: the base).
    func file(ofLayer layer: Int) -> File {
        layer == 0 ? base : diffs[layer - 1].file
    }

    /// Prints one line per layer: its pages, how it names them, and the
    /// pages it serves in the composed view.
    func reportLayers() {
        let served = view.pagesServed
        Console.line("  base      \(base.name): \(base.pageCount) pages; serves \(served[0])")
        for (index, diff) in diffs.enumerated() {
            let how = diff.specified
                ? "\(diff.pages.count) segments given (\(diff.pages.merged.count) after merging), \(diff.pages.pageCount) pages"
                : "\(diff.pages.count) data extents, \(diff.pages.pageCount) data pages"
            let label = "layer \(index + 1)"
            Console.line("  \(label.padding(9)) \(diff.file.name): \(diff.file.pageCount) pages, \(how); serves \(served[index + 1])")
        }
        let past = pagesPastTheirLayersEnd
        if past > 0 {
            Console.line("  warning   \(past) pages are served by a layer file that ends before them: "
                         + "reading them raises SIGBUS")
        }
    }

    /// Pages of the view served by a layer file that ends before them.
    var pagesPastTheirLayersEnd: Int {
        var count = 0
        for (page, layer) in view.servingLayers.enumerated() where page >= file(ofLayer: layer).pageCount { count += 1 }
        return count
    }

    /// Reads page `page` of the composed view from the file that serves it
    /// (pread, never a mapping) into `buffer` (one page), zero-filled past
    /// the file's end; false, and nothing read, when the page lies past
    /// the end of its layer file (a mapping raises SIGBUS there).
    func readComposedPage(_ page: Int, layer: Int, into buffer: UnsafeMutableRawPointer) throws(ToolFailure) -> Bool {
        let file = file(ofLayer: layer)
        let pageSize = MemoryPage.size
        let offset = page * pageSize
        guard offset < file.size else { return false }
        let wanted = min(pageSize, file.size - offset)
        var done = 0
        while done < wanted {
            let count = pread(file.descriptor.rawValue, buffer + done, wanted - done, off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ToolFailure("read \(file.name) page \(page)", Errno(rawValue: count < 0 ? errno : EIO)) }
            done += count
        }
        if wanted < pageSize { memset(buffer + wanted, 0, pageSize - wanted) }
        return true
    }
}

extension String {
    /// The string padded with spaces to `width` characters.
    func padding(_ width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - count))
    }
}
