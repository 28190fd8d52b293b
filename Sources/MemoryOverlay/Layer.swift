// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import SystemPackage

/// One layer of a snapshot chain for ``OverlayDevice/stack(base:layers:loadingSet:populate:)``:
/// a file open for reading and the pages of it that show.
///
/// A diff file written sparse (holding only the pages that were dirtied, as
/// Firecracker's diff snapshots are) needs no segment list: ``Pages/dataExtents``
/// serves the pages that hold data.
public struct Layer: Sendable {
    /// The most layers one request may lay (`MEM_OVERLAY_MAX_LAYERS`).
    public static let maximumCount = Int(BATCH_SYSCALLS_MAX_LAYERS)

    /// The pages a layer serves.
    public enum Pages: Sendable, Equatable {
        /// The file pages of a segment list.
        case segments(SegmentList)
        /// The pages of the file that hold data; a page partly data counts
        /// as data. Found here with FIEMAP where the filesystem has it
        /// (``SegmentList/init(writtenExtentsOf:)``: one call per 512
        /// extents, unwritten extents as holes) and sent as a segment list;
        /// elsewhere the module finds them (`MEM_OVERLAY_LAYER_DATA_EXTENTS`:
        /// `SEEK_DATA`/`SEEK_HOLE`, two calls per extent; a filesystem that
        /// cannot report holes gives all of the file), as
        /// ``SegmentList/init(dataExtentsOf:)`` does in userspace.
        case dataExtents
    }

    /// The layer file, open for reading. The module takes its own
    /// reference during the request: the descriptor may be closed after.
    public var file: FileDescriptor
    /// The pages of `file` that show.
    public var pages: Pages

    /// A layer of `file` serving `pages`.
    public init(file: FileDescriptor, pages: Pages) {
        self.file = file
        self.pages = pages
    }

    /// A layer of `file` serving the pages of `segments`.
    public init(file: FileDescriptor, segments: SegmentList) {
        self.init(file: file, pages: .segments(segments))
    }

    /// A layer of `file` serving its data extents.
    public static func dataExtents(of file: FileDescriptor) -> Layer {
        Layer(file: file, pages: .dataExtents)
    }

    /// The layer as a request sends it: a ``Pages/dataExtents`` layer's
    /// extents found by FIEMAP where the filesystem has it (else, and for
    /// more extents than a layer may serve, the module's own search, which
    /// then says why it refuses).
    var resolved: Layer {
        guard case .dataExtents = pages, let extents = try? SegmentList(writtenExtentsOf: file) else { return self }
        return Layer(file: file, segments: extents)
    }

    /// The layer as the ABI has it.
    var abiLayer: (fileDescriptor: Int32, flags: UInt32, segments: ABI.LayerSegments, countOverride: UInt64?) {
        switch pages {
        case .segments(let list): (file.rawValue, 0, .array(list.abiSegments), nil)
        case .dataExtents: (file.rawValue, ABI.dataExtentsFlag, .address(nil, count: 0), nil)
        }
    }
}
