// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import Glibc
import SystemPackage

/// Another process, held by a pidfd: the target of a request that lays a
/// chain over one of its mappings (``OverlayDevice/stack(in:at:layers:loadingSet:populate:)``),
/// such as the guest memory of a VMM that knows nothing of the module.
///
/// A pidfd names one process for as long as it is open, whatever pid the
/// kernel hands out later: a request never lands in a process that reused
/// the pid. Closed when the last reference goes.
public final class TargetProcess: Sendable {
    /// The process's pid, as given.
    public let processID: pid_t
    /// The pidfd (from `pidfd_open`).
    public let pidfd: FileDescriptor

    /// Opens a pidfd of process `processID`.
    ///
    /// - Throws: the `Errno` of `pidfd_open`: `ESRCH` when there is no such
    ///   process.
    public init(processID: pid_t) throws(Errno) {
        let fd = batch_syscalls_pidfd_open(processID)
        guard fd >= 0 else { throw Errno.current }
        self.processID = processID
        pidfd = FileDescriptor(rawValue: CInt(fd))
    }

    deinit {
        try? pidfd.close()
    }

    /// One mapping of the process, as `/proc/PID/maps` lists it.
    public struct Mapping: Sendable, Equatable {
        /// Its first address.
        public let start: UInt
        /// The address past its end.
        public let end: UInt
        /// The file offset its first byte maps.
        public let fileOffset: UInt
        /// The file it maps, as the kernel names it (empty: none).
        public let path: String

        /// The address where it shows file byte `offset`, if it does.
        public func address(ofFileOffset offset: UInt) -> UInt? {
            guard offset >= fileOffset, offset - fileOffset < end - start else { return nil }
            return start + (offset - fileOffset)
        }
    }

    /// The process's mappings now.
    ///
    /// - Throws: the `Errno` of reading `/proc/PID/maps`.
    public func mappings() throws(Errno) -> [Mapping] {
        let maps = try TextFile.read(FilePath("/proc/\(processID)/maps"))
        return maps.split(separator: "\n").compactMap { line in
            // start-end perms offset dev inode [path]
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                  let offset = UInt(fields[2], radix: 16)
            else { return nil }
            let path = fields.count == 6 ? String(fields[5].drop(while: { $0 == " " })) : ""
            return Mapping(start: start, end: end, fileOffset: offset, path: path)
        }
    }

    /// The process's first mapping of the file at `path`, or nil when it
    /// maps none (compared as the kernel names the file: an absolute path).
    ///
    /// - Throws: the `Errno` of reading `/proc/PID/maps`.
    public func mapping(of path: FilePath) throws(Errno) -> Mapping? {
        try mappings().first { FilePath($0.path) == path }
    }

    /// The process's mapping that contains `address`, if one does.
    ///
    /// - Throws: the `Errno` of reading `/proc/PID/maps`.
    public func mapping(containing address: UInt) throws(Errno) -> Mapping? {
        try mappings().first { $0.start <= address && address < $0.end }
    }
}

/// An overlay laid over another process's mapping by
/// ``OverlayDevice/stack(in:at:layers:loadingSet:populate:)``.
///
/// It owns the overlay's id, as ``Overlay`` does: ``remove()`` cleans it
/// up, reporting a refusal, and letting it go cleans it up silently. The
/// target's mapping keeps showing the overlay until the target unmaps it or
/// exits, whatever becomes of the id.
public struct ProcessOverlay: ~Copyable, Sendable {
    /// The id the module gave the overlay (the caller's, not the target's).
    public let id: OverlayID
    /// The process whose mapping shows it.
    public let process: TargetProcess
    /// The address given (inside the overlaid mapping).
    public let address: UInt
    private let device: OverlayDevice
    private var removed = false

    init(id: OverlayID, device: OverlayDevice, process: TargetProcess, address: UInt) {
        self.id = id
        self.device = device
        self.process = process
        self.address = address
    }

    deinit {
        if !removed { try? device.sendCleanup(id) }
    }

    /// Cleans the id up now; the target keeps its mapping as it is.
    ///
    /// - Throws: ``OverlayError/unknownID`` when the id was cleaned up
    ///   already (or the target unmapped the range).
    public consuming func remove() throws(OverlayError) {
        removed = true
        try device.sendCleanup(id)
    }
}
