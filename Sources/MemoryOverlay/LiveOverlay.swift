// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// One overlay the module has registered, as its debugfs listing shows it.
public struct LiveOverlay: Sendable, Equatable {
    /// Where the module lists its registered overlays (debugfs, root only).
    public static let listingPath: FilePath = "/sys/kernel/debug/batch_syscalls/overlays"

    /// The overlay's id.
    public var id: OverlayID
    /// The process that created it (its thread-group id).
    public var processID: Int
    /// Segments in its table after merging (stacked requests included).
    public var segmentCount: Int
    /// Layer files it reads from: the base file, then each overlay file.
    public var layerCount: Int
    /// The number of the overlay (the module's file) the request maps:
    /// requests whose mappings share one overlay show the same number.
    public var overlayNumber: Int
    /// The number of the page cache that serves the layers beneath the
    /// request's own (see "Sharing" in the ABI's documentation): requests
    /// that share it show the same number; 0 when it is the base file's own
    /// page cache; nil from a module that does not say.
    public var lowerNumber: Int?
    /// Requests whose mappings use that overlay, cleaned up or not.
    public var attachedRequests: Int
    /// Pages of the overlay file in the page cache now.
    public var cachedPages: Int
    /// Pages read from each layer so far, in layer order.
    public var pagesServed: [Int]
    /// The process whose mapping shows it: the creator's own, or another
    /// that a request named by pidfd.
    public var targetProcessID: Int

    /// Parses one listing line (`id=... pid=... overlay=... attached=...
    /// segments=... layers=... cached_pages=... served=a,b,...`); nil for
    /// another line.
    public init?(listingLine line: some StringProtocol) {
        var fields: [Substring: Substring] = [:]
        for field in String(line).split(separator: " ") {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            fields[field[..<equals]] = field[field.index(after: equals)...]
        }
        func number(_ key: Substring) -> Int? { fields[key].flatMap { Int($0) } }
        guard let idText = fields["id"], let id = OverlayID(hex: idText),
              let processID = number("pid"), let segmentCount = number("segments"),
              let layerCount = number("layers"), let overlayNumber = number("overlay"),
              let attachedRequests = number("attached"),
              let cachedPages = number("cached_pages"), let served = fields["served"]
        else { return nil }
        let pagesServed = served.split(separator: ",").compactMap { Int($0) }
        guard pagesServed.count == layerCount else { return nil }
        self.id = id
        self.processID = processID
        self.segmentCount = segmentCount
        self.layerCount = layerCount
        self.overlayNumber = overlayNumber
        self.attachedRequests = attachedRequests
        lowerNumber = number("lower")
        self.cachedPages = cachedPages
        self.pagesServed = pagesServed
        // A module older than requests into other processes lists none.
        targetProcessID = number("target") ?? processID
    }

    /// The overlays the module lists now.
    ///
    /// - Throws: the `Errno` of reading the listing: `ENOENT` when debugfs
    ///   is not mounted or the module is not loaded, `EACCES` for a user
    ///   other than root.
    public static func all(listingPath path: FilePath = LiveOverlay.listingPath) throws(Errno) -> [LiveOverlay] {
        let text = try TextFile.read(path)
        return text.split(separator: "\n").compactMap { LiveOverlay(listingLine: $0) }
    }
}
