// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// Why the module (or its device) refused a request, in the ABI's words.
///
/// Each case is one errno of docs/abi.md as the request it came from means
/// it, and ``errno`` gives that errno back exactly: `EEXIST` from a create
/// request is ``alreadyOverlaid``, `ENOENT` from a cleanup is
/// ``unknownID``, from opening the device ``moduleNotLoaded``. An errno
/// the ABI does not list for the request is ``other(_:)``.
///
/// ```swift
/// do {
///     let overlay = try device.overlay(base: base, layer: layer, segments: segments)
/// } catch .alreadyOverlaid {
///     // remove() the overlay on this mapping first, or stack on it
/// } catch {
///     print(error)  // "mapping holds private writes (EBUSY)"
/// }
/// ```
public enum OverlayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `ENOENT` opening the device: batch-syscalls.ko is not loaded.
    case moduleNotLoaded
    /// `EACCES` opening the device: it is mode 0600, for root.
    case permissionDenied
    /// `EINVAL`: the base is not inside a file-backed private mapping, a
    /// segment ends before it starts, there are no segments or layers, a
    /// layer is not a regular file with a page cache, or a v2 field is
    /// out of range.
    case invalidRequest
    /// `EFAULT`: the request, its segments or its layers could not be read,
    /// or the id could not be written back.
    case badAddress
    /// `E2BIG`: more segments or data extents than ``SegmentList/maximumCount``,
    /// more layers than ``Layer/maximumCount``, or a stack of more than 256
    /// layer files.
    case tooLarge
    /// `EEXIST`: the mapping is already overlaid and its id not cleaned up.
    case alreadyOverlaid
    /// `EBUSY`: the base mapping holds private writes, which replacing it
    /// would lose.
    case mappingHoldsPrivateWrites
    /// `ENOENT` from a cleanup: no overlay has this id (it was cleaned up
    /// already, or its mapping is gone).
    case unknownID
    /// `EPERM` from a cleanup: another process created the overlay.
    case notPermitted
    /// `EPERM` from a request into another process: the caller may not
    /// write its memory: the kernel's ptrace-attach check refused (another
    /// user's process without `CAP_SYS_PTRACE`, Yama's `ptrace_scope`), as
    /// `process_vm_writev` would be refused.
    case processNotWritable
    /// `ESRCH` from a request into another process: it has exited, or has
    /// no address space.
    case processGone
    /// `EBADF`: a layer's descriptor is not open (or is an `O_PATH` one),
    /// or, in a request into another process, its pidfd is no pidfd.
    case badLayerDescriptor
    /// `EACCES` from a v2 request: a layer is not open for reading.
    case layerNotReadable
    /// `ENOMEM`: the segment table did not fit (it is charged to the
    /// caller's memory cgroup).
    case outOfMemory
    /// `EINTR`: a fatal signal came while the request waited for another
    /// request of the same process.
    case interrupted
    /// `ENOTTY`: the module does not know the request (a module older
    /// than ABI v2, for a chain).
    case unsupportedRequest
    /// Any errno the ABI does not list for the request.
    case other(Errno)

    /// The requests, for telling what an errno means.
    package enum Request {
        case open, create, stack, cleanup
        /// A v2 request into another process (`MEM_OVERLAY_STACK_PIDFD`).
        case stackInProcess
    }

    /// The meaning of `errno` returned by `request`.
    package init(_ errno: Errno, from request: Request) {
        switch (errno, request) {
        case (.noSuchFileOrDirectory, .open): self = .moduleNotLoaded
        case (.permissionDenied, .open): self = .permissionDenied
        case (_, .open): self = .other(errno)
        case (.noSuchFileOrDirectory, .cleanup): self = .unknownID
        case (.notPermitted, .cleanup): self = .notPermitted
        case (.badFileDescriptor, .stack), (.badFileDescriptor, .stackInProcess): self = .badLayerDescriptor
        case (.permissionDenied, .stack), (.permissionDenied, .stackInProcess): self = .layerNotReadable
        case (.notPermitted, .stackInProcess): self = .processNotWritable
        case (.noSuchProcess, .stackInProcess): self = .processGone
        case (.invalidArgument, _): self = .invalidRequest
        case (.badAddress, _): self = .badAddress
        case (.argListTooLong, _): self = .tooLarge
        case (.fileExists, .create), (.fileExists, .stack), (.fileExists, .stackInProcess): self = .alreadyOverlaid
        case (.resourceBusy, .create), (.resourceBusy, .stack), (.resourceBusy, .stackInProcess):
            self = .mappingHoldsPrivateWrites
        case (.noMemory, .create), (.noMemory, .stack), (.noMemory, .stackInProcess): self = .outOfMemory
        case (.interrupted, _): self = .interrupted
        case (.inappropriateIOCTLForDevice, _): self = .unsupportedRequest
        default: self = .other(errno)
        }
    }

    /// The errno the module returned.
    public var errno: Errno {
        switch self {
        case .moduleNotLoaded, .unknownID: .noSuchFileOrDirectory
        case .permissionDenied, .layerNotReadable: .permissionDenied
        case .invalidRequest: .invalidArgument
        case .badAddress: .badAddress
        case .tooLarge: .argListTooLong
        case .alreadyOverlaid: .fileExists
        case .mappingHoldsPrivateWrites: .resourceBusy
        case .notPermitted, .processNotWritable: .notPermitted
        case .processGone: .noSuchProcess
        case .badLayerDescriptor: .badFileDescriptor
        case .outOfMemory: .noMemory
        case .interrupted: .interrupted
        case .unsupportedRequest: .inappropriateIOCTLForDevice
        case .other(let errno): errno
        }
    }

    /// What went wrong in words, then the errno's name: "already overlaid
    /// (EEXIST)".
    public var description: String {
        let words = switch self {
        case .moduleNotLoaded: "batch-syscalls.ko is not loaded"
        case .permissionDenied: "no permission to open the device (root only)"
        case .invalidRequest: "invalid request"
        case .badAddress: "request memory not readable or writable"
        case .tooLarge: "too many segments, extents or layers"
        case .alreadyOverlaid: "already overlaid"
        case .mappingHoldsPrivateWrites: "mapping holds private writes"
        case .unknownID: "unknown id"
        case .notPermitted: "not permitted: another process created the overlay"
        case .processNotWritable: "not permitted to write that process's memory"
        case .processGone: "the process has exited or has no address space"
        case .badLayerDescriptor: "a layer's descriptor is not open"
        case .layerNotReadable: "a layer is not open for reading"
        case .outOfMemory: "out of memory"
        case .interrupted: "interrupted"
        case .unsupportedRequest: "the module does not know this request"
        case .other(let errno): errno.description
        }
        return "\(words) (\(errno.name))"
    }
}
