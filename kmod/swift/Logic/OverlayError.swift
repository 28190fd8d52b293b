// SPDX-License-Identifier: GPL-2.0-or-later

/// Why an overlay request failed. Every case maps to one negative errno that
/// the ioctl returns, so userspace sees the design's errno table.
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

    /// The positive Linux errno for this error (asm-generic/errno-base.h and
    /// errno.h numbers, stable ABI on every Linux architecture we build for).
    var errno: Int32 {
        switch self {
        case .noSegments, .segmentEndsBeforeStart, .baseNotPrivateFileMapping,
             .overlayNotFileMapping:
            return 22  // EINVAL
        case .tooManySegments: return 7  // E2BIG
        case .badAddress: return 14  // EFAULT
        case .alreadyOverlaid: return 17  // EEXIST
        case .mappingHasPrivateWrites: return 16  // EBUSY
        case .unknownID: return 2  // ENOENT
        case .notOwner: return 1  // EPERM
        case .unknownCommand: return 25  // ENOTTY
        case .outOfMemory: return 12  // ENOMEM
        case .kernel(let errno): return errno
        }
    }

    /// The value a kernel entry point returns for this error.
    var negativeErrno: Int { -Int(errno) }
}
