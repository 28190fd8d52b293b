// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import Synchronization
import SystemPackage

/// The fuzzer: threads send random and hostile create (v1), stack (v2) and
/// cleanup requests, aimed at the slots of a `FuzzArena` that mutator
/// threads keep changing (`ArenaMutator`: map files and anonymous memory
/// over them, munmap, mprotect, mremap, madvise(MADV_DONTNEED), write,
/// fork, clean up random ids), while a checker thread keeps creating,
/// verifying and cleaning up overlays of a mapping of its own.
///
/// Every request must return with success or an errno the ABI lists for
/// it; where the request alone decides the outcome (an unreadable request,
/// no segments, too many, a reversed segment in readable memory, a base
/// address that is no file mapping, a v2 size or flags that are wrong...)
/// it must be exactly that errno. Every id a create returns is unique and
/// cleans up successfully at most once. At the end the module's live
/// objects return to where they were. The tallies are printed.
struct RequestFuzzer {
    let configuration: StressConfiguration
    let seed: UInt64

    static let slotCount = 8
    static let slotPages = 64

    func run() throws {
        let device = try openDeviceAsRoot()
        let data = try TestData.load()
        let before = KernelFigures.settle()
        let files = try FuzzFiles()
        let arena = try FuzzArena(slotCount: Self.slotCount, slotPages: Self.slotPages)
        let ids = IDLedger()
        let tally = Tally()
        let targets = FuzzTargets(device: device, files: files, arena: arena, ids: ids, tally: tally)
        let stop = StopFlag()
        let fuzzers = configuration.threads
        let mutators = 2
        let perThread = (configuration.requests + fuzzers - 1) / fuzzers
        let started = Stopwatch.nowSeconds()
        let mutatorStats = Locked<[String: Int]>([:])
        let finishedFuzzers = Locked(0)

        try ThreadGroup.run(fuzzers + mutators + 1) { member in
            let threadSeed = seed &+ UInt64(member.index) &* 0x9E37_79B9_7F4A_7C15
            do {
                if member.index < fuzzers {
                    let thread = try FuzzThread(targets, seed: threadSeed, label: "fuzzer \(member.index)")
                    defer { thread.release() }
                    for _ in 0..<perThread where Log.failures < 20 { thread.step() }
                } else if member.index < fuzzers + mutators {
                    let mutator = ArenaMutator(targets, seed: threadSeed)
                    while !stop.isSet { mutator.step() }
                    mutatorStats.withLock { total in
                        for (name, count) in mutator.operations { total[name, default: 0] += count }
                    }
                } else {
                    try checker(device, data, ids: ids, tally: tally, seed: threadSeed, until: stop, fuzzers: fuzzers)
                }
            } catch {
                Log.fail("thread \(member.index): \(error)")
            }
            if member.index < fuzzers {
                // The last fuzzer to finish stops the mutators and the checker.
                if finishedFuzzers.withLock({ $0 += 1; return $0 }) == fuzzers { stop.set() }
            }
        }
        let seconds = Stopwatch.nowSeconds() - started
        arena.release()
        files.close()
        // Ids still registered: each may still clean up once (0), or its
        // mapping went with the arena (ENOENT).
        for id in ids.outstanding {
            let result = errnoCode(try device.cleanup(id))
            tally.add("cleanup (end)", code: result)
            if result == 0 { ids.cleanedUp(id, label: "end") } else {
                expect(result == ENOENT, "cleanup of \(id) at the end: \(Errno.describe(result))")
            }
        }
        for line in tally.lines { Log.note(line) }
        let operations = mutatorStats.withLock { $0 }
        Log.note("mutations: " + operations.keys.sorted().map { "\($0)=\(operations[$0]!)" }.joined(separator: " ")
                 + " (slots given up: \(arena.lostSlots) of \(Self.slotCount))")
        let sent = tally.total
        Log.note("requests: \(sent) in \(formatSeconds(seconds)) s; ids created: \(ids.created), cleaned up: \(ids.cleaned)")
        expect(sent >= configuration.requests, "only \(sent) requests were sent, want \(configuration.requests)")
        let after = KernelFigures.settle(until: before.module)
        Log.note("before: \(before)")
        Log.note("after:  \(after)")
        expect(after.module == before.module, "module objects after the fuzzer: \(after.moduleText), before: \(before.moduleText)")
    }

    /// Creates, verifies and cleans up overlays of a mapping of its own
    /// while the fuzzers run: the module keeps serving right data.
    private func checker(_ device: OverlayDevice, _ data: TestData, ids: IDLedger, tally: Tally, seed: UInt64,
                         until stop: StopFlag, fuzzers: Int) throws {
        var generator = SplitMix64(seed: seed)
        let layers = [(DataFile.overlay.name, data.overlay), (DataFile.zebra.name, data.zebra)]
        let layerMappings = try layers.map { try MappedFile.map($0.0) }
        defer { layerMappings.forEach { $0.unmap() } }
        while !stop.isSet && Log.failures < 20 {
            let first = generator.below(data.pageCount - 64)
            let base = try MappedFile.map(DataFile.base.name, firstFilePage: first, pages: 64,
                                          protection: PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            let layer = generator.below(layers.count)
            let segments = (0..<(1 + generator.below(6))).map { _ in
                let start = first + generator.below(64)
                return start...(start + generator.below(16))
            }
            let result = device.create(RawCreateRequest(base: base.innerAddress, overlay: layerMappings[layer].innerAddress,
                                                        segments: segments))
            tally.add("create (checked)", result.failure)
            guard case .success(let id) = result else {
                Log.fail("checker: create on its own mapping failed: \(result.failure!)")
                continue
            }
            ids.created(id, label: "checker", aimable: false)
            let view = ExpectedView(base: data.base).overlaid(layers[layer].1, segments)
            verifyPages(base, view, label: "checker: overlay made during the fuzzing",
                        order: (0..<16).map { _ in first + generator.below(64) })
            let cleaned = errnoCode(try device.cleanup(id))
            tally.add("cleanup (checked)", code: cleaned)
            if expectErrno(cleaned, 0, "checker: cleanup of its own id") { ids.cleanedUp(id, label: "checker") }
        }
    }
}

extension Result where Failure == Errno {
    var failure: Errno? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// The ids created during the fuzzing: each must be new and non-zero, and
/// clean up successfully at most once.
final class IDLedger: @unchecked Sendable {
    private struct State {
        var live: [OverlayID] = []
        var all: Set<OverlayID> = []
        var cleaned: Set<OverlayID> = []
    }

    private let state = Locked(State())

    /// Records a new id; `aimable`: the fuzzers may clean it up (the
    /// checker's ids are its own to clean up).
    func created(_ id: OverlayID, label: String, aimable: Bool = true) {
        state.withLock { state in
            if id == OverlayID.zero { Log.fail("\(label): a create returned the all-zero id") }
            if !state.all.insert(id).inserted { Log.fail("\(label): a create returned id \(id) a second time") }
            if aimable { state.live.append(id) }
            // Fuzzers aim at recent ids; older ones stay in `all`.
            if state.live.count > 512 { state.live.removeFirst(256) }
        }
    }

    func cleanedUp(_ id: OverlayID, label: String) {
        state.withLock { state in
            if !state.all.contains(id) { Log.fail("\(label): cleanup of \(id) succeeded, but no create returned it") }
            if !state.cleaned.insert(id).inserted { Log.fail("\(label): id \(id) was cleaned up successfully twice") }
        }
    }

    /// A recent id (possibly cleaned up already), if any.
    func pick(_ generator: inout SplitMix64) -> OverlayID? {
        state.withLock { $0.live.isEmpty ? nil : $0.live[generator.below($0.live.count)] }
    }

    /// Ids created and not cleaned up yet.
    var outstanding: [OverlayID] { state.withLock { Array($0.all.subtracting($0.cleaned)) } }
    var created: Int { state.withLock { $0.all.count } }
    var cleaned: Int { state.withLock { $0.cleaned.count } }
}

/// The files the fuzzer maps and names by descriptor: the data files (read
/// only, so a shared mapping can never write them), and descriptors a v2
/// layer may not be.
final class FuzzFiles: @unchecked Sendable {
    /// base.bin, base2.bin, overlay.bin, overlay_zebra.bin, O_RDONLY.
    let data: [Int32]
    /// Descriptors of every kind a v2 layer may name, good and bad.
    let layerCandidates: [(fd: Int32, name: String)]
    private var owned: [Int32] = []

    init() throws {
        var owned: [Int32] = []
        func open(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = Glibc.open(path, flags | O_CLOEXEC)
            if fd < 0 { throw SysError("open \(path)") }
            owned.append(fd)
            return fd
        }
        data = try [DataFile.base.name, DataFile.base2.name, DataFile.overlay.name, DataFile.zebra.name]
            .map { try open($0, O_RDONLY) }
        // A sparse layer: data in two places, for MEM_OVERLAY_LAYER_DATA_EXTENTS.
        let sparse = try ScratchFile.create(name: "fuzz-sparse")
        owned.append(sparse.fd)
        try sparse.truncate(bytes: 1024 * pageSize)
        var page = [UInt8](repeating: 0x5A, count: pageSize)
        for at in [3, 700] { _ = pwrite(sparse.fd, &page, pageSize, off_t(at * pageSize)) }
        let writeOnly = try open("/proc/self/fd/\(sparse.fd)", O_WRONLY)
        let directory = try open(".", O_RDONLY | O_DIRECTORY)
        let devNull = try open("/dev/null", O_RDONLY)
        let path = try open(DataFile.overlay.name, 0o10000000)  // O_PATH (Glibc leaves it out)
        let memfd = batch_syscalls_memfd_create("fuzz-memfd")
        if memfd >= 0 {
            owned.append(memfd)
            _ = ftruncate(memfd, off_t(64 * pageSize))
        }
        var pipeEnds: [Int32] = [0, 0]
        if pipe(&pipeEnds) == 0 { owned += pipeEnds }
        let closed = try open(DataFile.base.name, O_RDONLY)
        Glibc.close(closed)
        owned.removeLast()
        layerCandidates = [
            (data[0], "base.bin"), (data[1], "base2.bin"), (data[2], "overlay.bin"), (data[3], "zebra"),
            (sparse.fd, "sparse O_RDWR"), (writeOnly, "O_WRONLY"), (directory, "directory"), (devNull, "/dev/null"),
            (path, "O_PATH"), (memfd, "memfd"), (pipeEnds[0], "pipe"), (closed, "closed fd"), (-1, "-1"),
            (1 << 20, "fd 1<<20"), (Int32.max, "INT_MAX"),
        ]
        self.owned = owned
    }

    func close() { owned.forEach { Glibc.close($0) } }
}
