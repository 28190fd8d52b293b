// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import SystemPackage

/// One layer of a snapshot chain for ``OverlayDevice/stack(base:layers:loadingSet:populate:)``:
/// a file open for reading and the pages of it that show.
///
/// A diff file written sparse (holding only the pages that were dirtied, as
/// Firecracker's diff snapshots are) needs no segment list: ``Pages/dataExtents``
/// lets the module find its data by the filesystem's extent map (`FIEMAP`),
/// or with `SEEK_DATA` and `SEEK_HOLE` where it keeps none.
public struct Layer: Sendable {
    /// The most layers one request may lay (`MEM_OVERLAY_MAX_LAYERS`).
    public static let maximumCount = Int(BATCH_SYSCALLS_MAX_LAYERS)

    /// The pages a layer serves.
    public enum Pages: Sendable, Equatable {
        /// The file pages of a segment list.
        case segments(SegmentList)
        /// The pages of the file that hold data, found by the module
        /// (`FIEMAP`, else `SEEK_DATA`/`SEEK_HOLE`); a page partly data
        /// counts as data, a preallocated extent never written is a hole,
        /// and a filesystem that cannot report holes gives all of the
        /// file. ``SegmentList/init(dataExtentsOf:)`` finds the same pages
        /// in userspace.
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

    /// The layer as the ABI has it.
    var abiLayer: (fileDescriptor: Int32, flags: UInt32, segments: ABI.LayerSegments, countOverride: UInt64?) {
        switch pages {
        case .segments(let list): (file.rawValue, 0, .array(list.abiSegments), nil)
        case .dataExtents: (file.rawValue, ABI.dataExtentsFlag, .address(nil, count: 0), nil)
        }
    }
}
