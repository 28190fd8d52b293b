// SPDX-License-Identifier: GPL-2.0-or-later
import CBatchSyscalls
import CGuestTestKit
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// One fuzzing thread: draws requests from its own generator and sends
/// them. Its scratch memory (8 pages) holds the requests it places itself:
///
///     0     the request (read-write)
///     1-2   segments, placed to end where page 3 begins
///     3     PROT_NONE: a segments_size larger than the array is EFAULT
///     4     v2 layers, placed to end where page 5 begins
///     5     PROT_NONE
///     6     a read-only request page (the id cannot be written back)
///     7     PROT_NONE: a request running off page 6 is cut short
final class FuzzThread {
    static let scratchPages = 8
    static let kernelAddress = UInt(0xffff_8880_0000_0000)
    static let nonCanonical = UInt(0x8000_0000_0000_0000)
    static let maxSegments = Int(BATCH_SYSCALLS_MAX_SEGMENTS)
    /// The errnos each request may fail with (docs/abi.md).
    static let allowed: [String: Set<Int32>] = [
        "create": [EINVAL, EFAULT, E2BIG, EEXIST, EBUSY, ENOMEM],
        "stack": [EINVAL, EFAULT, E2BIG, EEXIST, EBUSY, ENOMEM, EBADF, EACCES],
        "cleanup": [ENOENT, EFAULT],
    ]

    let device: OverlayDevice
    let files: FuzzFiles
    let arena: FuzzArena
    let ids: IDLedger
    let tally: Tally
    let label: String
    var generator: SplitMix64
    let scratch: UnsafeMutableRawPointer
    /// Mappings of this thread that only its requests change.
    let base: MappedFile
    let shared: MappedFile
    let layer: MappedFile

    /// Where an address points.
    enum Aim: String {
        case slot, ownBase, shared, layer, anonymous, null, kernel, nonCanonical, low, top, arenaGuard

        /// Whether no private file mapping can be there, whatever the
        /// other threads do: a request naming it as base is EINVAL.
        var neverPrivateFileMapping: Bool {
            switch self {
            case .slot, .ownBase, .layer: return false
            default: return true
            }
        }

        /// Whether nothing readable is ever there.
        var neverReadable: Bool { [.null, .kernel, .nonCanonical, .low, .top, .arenaGuard].contains(self) }
    }

    init(_ targets: FuzzTargets, seed: UInt64, label: String) throws {
        (device, files, arena, ids, tally) = (targets.device, targets.files, targets.arena, targets.ids, targets.tally)
        self.label = label
        generator = SplitMix64(seed: seed)
        guard let memory = mmap(nil, Self.scratchPages * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              memory != MAP_FAILED else { throw SysError("mmap fuzz scratch") }
        scratch = memory
        for page in [3, 5, 7] { mprotect(scratch + page * pageSize, pageSize, PROT_NONE) }
        mprotect(scratch + 6 * pageSize, pageSize, PROT_READ)
        base = try MappedFile.map(DataFile.base.name, name: "\(label) base", pages: 64, protection: PROT_READ | PROT_WRITE)
        shared = try MappedFile.map(fd: files.data[1], name: "\(label) shared base2.bin", pages: 64, flags: MAP_SHARED)
        layer = try MappedFile.map(fd: files.data[2], name: "\(label) overlay.bin")
    }

    func release() {
        munmap(scratch, Self.scratchPages * pageSize)
        base.unmap()
        shared.unmap()
        layer.unmap()
    }

    func step() {
        switch generator.below(100) {
        case ..<50: fuzzCreate()
        case ..<75: fuzzStack()
        default: fuzzCleanup()
        }
    }

    // MARK: addresses

    func address(_ aim: Aim) -> UnsafeRawPointer? {
        switch aim {
        case .slot:
            let page = generator.below(arena.slotCount * arena.slotPages)
            return UnsafeRawPointer(arena.base + page * pageSize + (generator.chance(20) ? generator.below(pageSize) : 0))
        case .ownBase: return UnsafeRawPointer(base.address + generator.below(base.length))
        case .shared: return UnsafeRawPointer(shared.address + generator.below(shared.length))
        case .layer: return UnsafeRawPointer(layer.address + generator.below(layer.length))
        case .anonymous: return UnsafeRawPointer(scratch + generator.below(pageSize))
        case .null: return nil
        case .kernel: return UnsafeRawPointer(bitPattern: Self.kernelAddress + UInt(generator.below(1 << 20)))
        case .nonCanonical: return UnsafeRawPointer(bitPattern: Self.nonCanonical)
        case .low: return UnsafeRawPointer(bitPattern: UInt(16 + generator.below(4096)))
        case .top: return UnsafeRawPointer(bitPattern: UInt.max - UInt(generator.below(4096)))
        case .arenaGuard: return UnsafeRawPointer(arena.guardAddress + generator.below(16 * pageSize))
        }
    }

    /// A base or overlay address: mostly the arena's slots.
    func mappingAim() -> Aim {
        switch generator.below(100) {
        case ..<55: return .slot
        case ..<65: return .ownBase
        case ..<72: return .layer
        case ..<77: return .shared
        case ..<82: return .anonymous
        default: return generator.pick([.null, .kernel, .nonCanonical, .low, .top, .arenaGuard])
        }
    }

    /// Where a struct the kernel reads (segments, layers) is.
    func dataAim() -> Aim {
        switch generator.below(100) {
        case ..<85: return .anonymous  // the thread's own scratch (placed at the guard)
        case ..<90: return .slot
        default: return generator.pick([.null, .kernel, .nonCanonical, .low, .arenaGuard])
        }
    }

    // MARK: segments

    func segmentPairs() -> [(start: UInt, end: UInt)] {
        let count = generator.chance(8) ? 1 + generator.below(500) : 1 + generator.below(16)
        var pairs: [(start: UInt, end: UInt)] = []
        for _ in 0..<count {
            let start = UInt(generator.below(1100))
            switch generator.below(100) {
            case ..<70: pairs.append((start, start + UInt(generator.below(64))))
            case ..<74: pairs.append((start + 1, start))  // end before start
            case ..<78: pairs.append((UInt.max, UInt.max))
            case ..<81: pairs.append((0, UInt.max))
            case ..<85: pairs.append((UInt(1) << 55 + start, UInt(1) << 57))  // past the last page there can be
            case ..<92: pairs.append(pairs.last ?? (start, start))  // overlapping
            default: pairs.append((start, start))
            }
        }
        return pairs
    }

    /// Writes `pairs` so that they end where the guard page begins.
    func placeSegments(_ pairs: [(start: UInt, end: UInt)]) -> UnsafeMutableRawPointer {
        let address = scratch + 3 * pageSize - pairs.count * RawSegments.stride
        RawSegments.store(pairs, at: address)
        return address
    }

    /// segments_size for `count` segments placed: mostly the count.
    func segmentsSize(count: Int) -> UInt32 {
        switch generator.below(1000) {
        case ..<800: return UInt32(count)
        case ..<850: return 0
        case ..<900: return UInt32(count + 1 + generator.below(64))  // runs into the guard page
        case ..<905: return UInt32(Self.maxSegments)
        case ..<940: return UInt32(Self.maxSegments + 1)
        case ..<970: return UInt32.max
        default: return UInt32(generator.below(count + 1))
        }
    }

    // MARK: where the request is

    enum Placement {
        case own(offset: Int), readOnly, cutShort(bytes: Int), slot, unreadable(Aim)
    }

    func placement(size: Int) -> Placement {
        switch generator.below(100) {
        case ..<75: return .own(offset: generator.chance(10) ? 1 + generator.below(7) : 0)
        case ..<80: return .readOnly
        case ..<85: return .cutShort(bytes: generator.below(size))
        case ..<92: return .slot
        default: return .unreadable(generator.pick([.null, .kernel, .nonCanonical, .low, .arenaGuard]))
        }
    }

    /// Puts `bytes` where `placement` says; the address to send.
    func place(_ bytes: UnsafeRawBufferPointer, _ placement: Placement) -> UnsafeMutableRawPointer? {
        switch placement {
        case .own(let offset):
            memcpy(scratch + offset, bytes.baseAddress!, bytes.count)
            return scratch + offset
        case .readOnly, .cutShort:
            let page = scratch + 6 * pageSize
            mprotect(page, pageSize, PROT_READ | PROT_WRITE)
            defer { mprotect(page, pageSize, PROT_READ) }
            if case .cutShort(let readable) = placement {
                memcpy(page + pageSize - readable, bytes.baseAddress!, readable)
                return page + pageSize - readable
            }
            memcpy(page, bytes.baseAddress!, bytes.count)
            return page
        case .slot:
            let target = UnsafeMutableRawPointer(mutating: address(.slot)!)
            // The slot may be unmapped or read-only right now: then the
            // kernel reads whatever is (or is not) there.
            _ = batch_syscalls_probe_copy(target, bytes.baseAddress!, bytes.count)
            return target
        case .unreadable(let aim):
            return address(aim).map { UnsafeMutableRawPointer(mutating: $0) }
        }
    }

    /// The id a successful request left at `address`, when the request was
    /// in memory only this thread writes.
    func writtenID(at address: UnsafeMutableRawPointer?, _ placement: Placement) -> OverlayID? {
        guard case .own = placement, let address else { return nil }
        return OverlayID(bytes: Array(UnsafeRawBufferPointer(start: address, count: 16)))
    }

    // MARK: requests

    func fuzzCreate() {
        let pairs = segmentPairs()
        let segmentsAim = dataAim()
        let segments: UnsafeRawPointer? = segmentsAim == .anonymous ? UnsafeRawPointer(placeSegments(pairs)) : address(segmentsAim)
        let count = segmentsSize(count: pairs.count)
        let baseAim = mappingAim()
        let overlayAim = mappingAim()
        let request = RawCreateRequest(baseAddress: address(baseAim), overlayAddress: address(overlayAim),
                                       segmentsAt: segments, segmentsSize: count)
        let where_ = placement(size: RawCreateRequest.size)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: RawCreateRequest.size, alignment: 16)
        defer { bytes.deallocate() }
        request.store(at: bytes)
        let sent = place(UnsafeRawBufferPointer(start: bytes, count: RawCreateRequest.size), where_)
        let error = device.ioctl(OverlayDevice.createCommand, sent)

        // What the request alone decides.
        var expected: Int32? = nil
        var readable = false
        switch where_ {
        case .own, .readOnly: readable = true
        case .cutShort, .unreadable: expected = EFAULT
        case .slot: break
        }
        if readable {
            if count == 0 { expected = EINVAL } else if Int(count) > Self.maxSegments { expected = E2BIG } else if segmentsAim.neverReadable {
                expected = EFAULT
            } else if segmentsAim == .anonymous {
                if Int(count) > pairs.count { expected = EFAULT } else if pairs.prefix(Int(count)).contains(where: { $0.end < $0.start }) {
                    expected = EINVAL
                } else if baseAim.neverPrivateFileMapping { expected = EINVAL }
            }
        }
        record("create", error, expected: expected, placement: where_) {
            "create: request \(where_), base \(baseAim), overlay \(overlayAim), segments \(segmentsAim) "
                + "(\(pairs.count) written, segments_size \(count))"
        }
        if error == nil, let id = writtenID(at: sent, where_) { ids.created(id, label: label) }
    }

    func fuzzStack() {
        let pairs = segmentPairs()
        let segmentsAim = dataAim()
        let segments: UnsafeRawPointer? = segmentsAim == .anonymous ? UnsafeRawPointer(placeSegments(pairs)) : address(segmentsAim)
        let layerCount = generator.chance(85) ? 1 + generator.below(3) : generator.pick([0, 2, 255, 256, 1 << 40])
        let written = min(layerCount, 8)
        var layers: [RawLayer] = []
        for _ in 0..<written {
            let candidate = generator.chance(70) ? files.layerCandidates[generator.below(4)]
                : generator.pick(files.layerCandidates)
            let flags: UInt32 = generator.chance(75) ? 0 : generator.chance(70) ? RawLayer.dataExtentsFlag
                : UInt32(truncatingIfNeeded: generator.next())
            var segmentsSize = UInt64(pairs.count)
            switch generator.below(100) {
            case ..<8: segmentsSize = 0
            case ..<12: segmentsSize = UInt64(pairs.count + 1 + generator.below(8))
            case ..<15: segmentsSize = UInt64(Self.maxSegments + 1)
            case ..<17: segmentsSize = UInt64.max
            default: break
            }
            layers.append(RawLayer(fileDescriptor: candidate.fd, flags: flags, segmentsAt: segments, segmentsSize: segmentsSize))
        }
        let layersAim = dataAim()
        let layersAddress: UnsafeRawPointer?
        if layersAim == .anonymous {
            let at = scratch + 5 * pageSize - written * RawLayer.stride
            RawLayer.store(layers, at: at)
            layersAddress = UnsafeRawPointer(at)
        } else {
            layersAddress = address(layersAim)
        }
        let size: UInt32
        var tail: UInt8 = 0
        switch generator.below(100) {
        case ..<80: size = UInt32(RawStackRequest.size)
        case ..<83: size = UInt32(generator.below(RawStackRequest.size))
        case ..<88: size = UInt32(RawStackRequest.size + 8); tail = generator.chance(50) ? 0 : 1
        case ..<91: size = 4096 - 8
        case ..<95: size = 4097
        default: size = UInt32.max
        }
        let flags: UInt32 = generator.chance(92) ? 0 : UInt32(truncatingIfNeeded: generator.next()) | 4  // bit 2: no version defines it
        let baseAim = mappingAim()
        let where_ = placement(size: RawStackRequest.size)
        // The struct and the bytes after it up to `size` (zero but one).
        let byteCount = min(Int(size), 4096 - 16)
        let total = max(RawStackRequest.size, byteCount)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
        defer { bytes.deallocate() }
        memset(bytes, 0, total)
        var request = RawStackRequest(baseAddress: address(baseAim), layersAt: layersAddress, layersSize: UInt64(layerCount))
        request.size = size
        request.flags = flags
        request.store(at: bytes, byteCount: RawStackRequest.size)
        if tail != 0 && total > RawStackRequest.size { bytes.storeBytes(of: tail, toByteOffset: total - 1, as: UInt8.self) }
        // Only the own page has room for the whole of a large struct.
        var placementUsed = where_
        if case .own = where_, total > pageSize - 8 { placementUsed = .own(offset: 0) }
        let sendBytes: Int
        switch placementUsed {
        case .own: sendBytes = total
        default: sendBytes = RawStackRequest.size
        }
        let sent = place(UnsafeRawBufferPointer(start: bytes, count: sendBytes), placementUsed)
        let error = device.ioctl(OverlayDevice.stackCommand, sent)

        // What the struct's own fields decide, once the module has read
        // them (`whole`: every byte up to `size` is the request's).
        func fromFields(whole: Bool) -> Int32? {
            if size < 48 { return EINVAL } else if size > 4096 { return E2BIG } else if Int(size) > RawStackRequest.size && !whole {
                return nil  // the bytes past the struct are whatever the page holds
            } else if tail != 0 && Int(size) > RawStackRequest.size { return E2BIG } else if flags != 0 {
                return EINVAL
            } else if layerCount == 0 { return EINVAL } else if layerCount > RawStackRequest.maximumLayers {
                return E2BIG
            } else if layersAim.neverReadable { return EFAULT }
            return nil
        }
        var expected: Int32? = nil
        switch placementUsed {
        case .unreadable: expected = EFAULT
        case .cutShort(let readable) where size >= 48 && Int(size) <= RawStackRequest.size && readable >= Int(size):
            // The module reads `size` bytes, all readable: the fields decide,
            // and a request they let through fails writing its id back
            // (the page is read-only) or on what they point at.
            expected = fromFields(whole: true)
        case .cutShort(let readable):
            expected = readable < 4 ? EFAULT : size < 48 ? EINVAL : size > 4096 ? E2BIG : EFAULT
        case .own, .readOnly:
            let whole = { if case .own = placementUsed { return true } else { return false } }()
            expected = fromFields(whole: whole)
        case .slot: break
        }
        record("stack", error, expected: expected, placement: placementUsed) {
            "stack: request \(placementUsed), size \(size), flags \(flags), base \(baseAim), \(layerCount) layers at \(layersAim) "
                + "(fds \(layers.map(\.fileDescriptor)), flags \(layers.map(\.flags)), segments_size \(layers.map { $0.segmentsSize ?? 0 })), segments \(segmentsAim)"
        }
        if error == nil, let sent, case .own = placementUsed {
            ids.created(OverlayID(bytes: Array(UnsafeRawBufferPointer(start: sent + RawStackRequest.idOffset, count: 16)))!,
                        label: label)
        }
    }

    func fuzzCleanup() {
        var id: OverlayID
        var known = false
        switch generator.below(100) {
        case ..<60:
            if let picked = ids.pick(&generator) { id = picked; known = true } else { id = OverlayID.zero }
        case ..<75: id = OverlayID(bytes: (0..<16).map { _ in UInt8(truncatingIfNeeded: generator.next()) })!
        case ..<85: id = OverlayID.zero
        default: id = (ids.pick(&generator) ?? OverlayID.zero).flipping(1 << UInt8(generator.below(8)), inByte: generator.below(16))
        }
        let where_ = placement(size: 16)
        let sent = id.bytes.withUnsafeBytes { place($0, where_) }
        let error = device.ioctl(OverlayDevice.cleanupCommand, sent)
        var expected: Int32? = nil
        switch where_ {
        case .cutShort, .unreadable: expected = EFAULT
        case .own, .readOnly: if !known { expected = ENOENT }  // 2^-128 to hit a live id
        case .slot: break
        }
        record("cleanup", error, expected: expected, placement: where_) { "cleanup: request \(where_), id \(known ? "created before" : "never created")" }
        if error == nil {
            switch where_ {
            case .own, .readOnly: ids.cleanedUp(id, label: label)
            default: break
            }
        }
    }

    /// Counts the result and checks it against what the request allows.
    func record(_ kind: String, _ error: Errno?, expected: Int32?, placement: Placement, _ describe: () -> String) {
        let code = error?.rawValue ?? 0
        tally.add(kind, code: code)
        if code != 0 && !(Self.allowed[kind]!.contains(code)) {
            Log.fail("\(label): \(describe()): unexpected \(Errno.describe(code))")
        } else if let expected, expected != code {
            Log.fail("\(label): \(describe()): got \(Errno.describe(code)), expected \(Errno.describe(expected))")
        } else if code == 0, case .readOnly = placement, kind != "cleanup" {
            Log.fail("\(label): \(describe()): succeeded, but its id could not be written back")
        }
    }
}
