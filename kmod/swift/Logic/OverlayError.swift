// SPDX-License-Identifier: GPL-2.0-or-later

#if canImport(Glibc)
import Glibc  // errno constants on the host; the kernel build imports them from the uapi headers
#endif

/// Why an overlay request failed. Every case maps to one errno that the
/// ioctl returns (negated), so userspace sees the design's errno table.
enum OverlayError: Error, Equatable {
    /// `segments_size` is zero.
    case noSegments
    /// `segments_size` is above `SegmentLimits.maxSegments`.
    case tooManySegments
    /// The segment at `index` (in request order) ends before it starts.
    case segmentEndsBeforeStart(index: Int)
    /// `base_addr` is not inside a file-backed MAP_PRIVATE mapping whose
    /// file can serve as a layer.
    case baseNotPrivateFileMapping
    /// `overlay_addr` is not inside a mapping of a readable regular file.
    case overlayNotFileMapping
    /// A user pointer could not be read or written.
    case badAddress
    /// The base mapping already shows an overlay whose id is registered.
    case alreadyOverlaid
    /// The base mapping already holds private (copied-on-write) pages.
    case mappingHasPrivateWrites
    /// Stacking this request would give the overlay more layers than a
    /// `LayerIndex` can name.
    case tooManyLayers
    /// No overlay with this id is registered.
    case unknownID
    /// The overlay was created by another process.
    case notOwner
    /// The ioctl command is not one of ABI v1.
    case unknownCommand
    /// An allocation failed.
    case outOfMemory
    /// A kernel call failed with this (positive) errno.
    case kernel(errno: Int32)

    /// The positive errno for this error.
    var errno: Int32 {
        switch self {
        case .noSegments, .segmentEndsBeforeStart, .baseNotPrivateFileMapping,
             .overlayNotFileMapping:
            return EINVAL
        case .tooManySegments, .tooManyLayers: return E2BIG
        case .badAddress: return EFAULT
        case .alreadyOverlaid: return EEXIST
        case .mappingHasPrivateWrites: return EBUSY
        case .unknownID: return ENOENT
        case .notOwner: return EPERM
        case .unknownCommand: return ENOTTY
        case .outOfMemory: return ENOMEM
        case .kernel(let errno): return errno
        }
    }

    /// The value a kernel entry point returns for this error.
    var negativeErrno: Int { -Int(errno) }
}
