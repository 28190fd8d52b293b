// SPDX-License-Identifier: GPL-2.0-or-later
import SampleFiles

/// What one page of a mapping must show.
enum Expectation {
    /// Page `page` of a layer file.
    case filePage(FileImage, Int)
    /// Bytes the test wrote (a private copy).
    case written([UInt8], String)
    /// An access raises SIGBUS (past the end of the file that serves it).
    case sigbus(String)

    var label: String {
        switch self {
        case .filePage(let image, let page): return "\(image.name) page \(page)"
        case .written(_, let what): return what
        case .sigbus(let why): return "SIGBUS (\(why))"
        }
    }
}

/// The model of an overlaid mapping: a base file, overlay layers stacked in
/// request order (a later request lays its segments over what the mapping
/// showed), and pages the test wrote privately.
struct ExpectedView {
    let base: FileImage
    private(set) var layers: [(image: FileImage, segments: PageSet)] = []
    private(set) var written: [Int: (bytes: [UInt8], what: String)] = [:]

    init(base: FileImage) { self.base = base }

    /// A request laying `segments` of `overlay` over the view.
    mutating func overlay(_ overlay: FileImage, _ segments: [ClosedRange<Int>]) {
        layers.append((overlay, PageSet(segments)))
    }

    func overlaid(_ overlay: FileImage, _ segments: [ClosedRange<Int>]) -> ExpectedView {
        var view = self
        view.overlay(overlay, segments)
        return view
    }

    /// A private write: file page `page` now shows `bytes` (a whole page).
    mutating func write(page: Int, bytes: [UInt8], what: String) {
        precondition(bytes.count == pageSize)
        written[page] = (bytes, what)
    }

    /// The layer serving file page `page` (ignoring private writes).
    func layer(servingPage page: Int) -> FileImage {
        for layer in layers.reversed() where layer.segments.contains(page) { return layer.image }
        return base
    }

    func expectation(forFilePage page: Int) -> Expectation {
        if let write = written[page] { return .written(write.bytes, write.what) }
        // The overlaid file has the base file's size.
        if page >= base.pageCount { return .sigbus("past the end of \(base.name)") }
        let image = layer(servingPage: page)
        if page >= image.pageCount { return .sigbus("past the end of \(image.name)") }
        return .filePage(image, page)
    }

    /// Every file this view may show, for naming unexpected contents.
    var images: [FileImage] { [base] + layers.map(\.image) }
}
