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
    /// The ioctl command is not one of ABI v1 or v2.
    case unknownCommand
    /// A v2 request's `size` is below the first version's.
    case requestTooSmall
    /// A v2 request is larger than the module knows, with a non-zero byte
    /// in the part it does not know.
    case unknownRequestFields
    /// A v2 request or layer sets a flag the module does not define.
    case unknownFlags
    /// A v2 request has no layers.
    case noLayers
    /// A v2 request sets `pidfd` without `MEM_OVERLAY_STACK_PIDFD`, or
    /// `reserved`.
    case unexpectedTargetFields
    /// A v2 request asks to populate (`MEM_OVERLAY_STACK_POPULATE`) without
    /// a loading set.
    case populateWithoutLoadingSet
    /// A v2 request's `pidfd` is not a pidfd.
    case notAProcess
    /// The target process has exited, or has no address space.
    case processGone
    /// The caller may not write the target process's memory.
    case mayNotWriteProcess
    /// A v2 layer's descriptor is not an open file.
    case badDescriptor
    /// A v2 layer's file is not open for reading.
    case layerNotReadable
    /// A v2 layer's file is not a regular file with a page cache the module
    /// can read.
    case layerNotRegularFile
    /// An allocation failed.
    case outOfMemory
    /// A kernel call failed with this (positive) errno.
    case kernel(errno: Int32)

    /// The positive errno for this error.
    var errno: Int32 {
        switch self {
        case .noSegments, .segmentEndsBeforeStart, .baseNotPrivateFileMapping,
             .overlayNotFileMapping, .requestTooSmall, .unknownFlags, .noLayers, .layerNotRegularFile,
             .unexpectedTargetFields, .populateWithoutLoadingSet:
            return EINVAL
        case .notAProcess: return EBADF
        case .processGone: return ESRCH
        case .mayNotWriteProcess: return EPERM
        case .tooManySegments, .tooManyLayers, .unknownRequestFields: return E2BIG
        case .badDescriptor: return EBADF
        case .layerNotReadable: return EACCES
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
