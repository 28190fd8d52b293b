// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Rounds of identical create requests racing on one mapping, then
/// cleanups of the id racing: of the creates exactly one succeeds and the
/// others get EEXIST (or EBUSY); of the cleanups exactly one succeeds and
/// the others get ENOENT. The requests of a round are all v1 or all v2;
/// in some rounds the threads share one request struct in memory (a
/// losing request writes nothing), in others each sends its own copy.
/// Some rounds stack on the previous round's mapping (after its cleanup);
/// the mapping is checked against the model after each round.
struct CreateRaceStress {
    let configuration: StressConfiguration
    let seed: UInt64

    /// What thread 0 sets up for a round and every thread reads.
    private final class Round: @unchecked Sendable {
        var base: MappedFile? = nil
        var view: ExpectedView? = nil
        var segments: [ClosedRange<Int>] = []
        var layerIndex = 0
        var layerImages: [FileImage] = []
        var version2 = false
        var sharedStruct = false
        /// The shared request (v1 or v2 bytes) and its segments.
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 4096)
        var createResults: [Int32]
        var ids: [OverlayID?]
        var cleanupResults: [Int32]
        var winner: OverlayID? = nil

        init(threads: Int) {
            createResults = Array(repeating: -1, count: threads)
            ids = Array(repeating: nil, count: threads)
            cleanupResults = Array(repeating: -1, count: threads)
        }
    }

    func run() throws {
        let device = try openDeviceAsRoot()
        let data = try TestData.load()
        let layerImages = [data.overlay, data.zebra, data.base2]
        let layerPaths = [DataFile.overlay.name, DataFile.zebra.name, DataFile.base2.name]
        let layers = try layerPaths.map { try MappedFile.map($0) }
        let layerDescriptors = layerPaths.map { open($0, O_RDONLY | O_CLOEXEC) }
        defer {
            layers.forEach { $0.unmap() }
            layerDescriptors.forEach { close($0) }
        }
        let threads = configuration.threads
        let rounds = configuration.raceRounds
        let round = Round(threads: threads)
        round.layerImages = layerImages
        let tally = Tally()
        let stop = StopFlag()
        // A device per thread for half the threads: the seed's program opens
        // one per thread; sharing one is as valid.
        let devices = (0..<threads).map { $0 % 2 == 0 ? device : ((try? OverlayDevice()) ?? device) }
        // Thread 0 draws every round's choices, so they follow from the seed.
        let choices = Locked(SplitMix64(seed: seed))

        try ThreadGroup.run(threads) { member in
            let index = member.index
            for number in 0..<rounds {
                if index == 0 {
                    choices.withLock { prepare(&$0, round, number: number, data: data, layers: layers,
                                               layerImages: layerImages, layerDescriptors: layerDescriptors) }
                }
                member.waitForAll()
                if stop.isSet { return }
                let result = create(devices[index], round, layers: layers, descriptors: layerDescriptors)
                round.createResults[index] = result.error?.rawValue ?? 0
                round.ids[index] = result.id
                member.waitForAll()
                if index == 0 { checkCreates(round, number: number, tally: tally, stop: stop) }
                member.waitForAll()
                if stop.isSet { return }
                if let id = round.winner {
                    do throws(Errno) {
                        try devices[index].cleanup(id)
                        round.cleanupResults[index] = 0
                    } catch {
                        round.cleanupResults[index] = error.rawValue
                    }
                }
                member.waitForAll()
                if index == 0 { checkCleanups(round, number: number, tally: tally, stop: stop) }
            }
            member.waitForAll()
        }
        round.base?.unmap()
        round.memory.deallocate()
        for line in tally.lines { Log.note(line) }
        let created = tally.successes("create") + tally.successes("stack")
        expect(created == rounds, "\(created) creates (v1 and v2) succeeded in \(rounds) rounds")
        expect(tally.successes("cleanup") == rounds, "\(tally.successes("cleanup")) cleanups succeeded in \(rounds) rounds")
    }

    /// Thread 0, between rounds: a new mapping (or the last one, to stack
    /// on it), the layer, the segments, v1 or v2, shared struct or not.
    private func prepare(_ generator: inout SplitMix64, _ round: Round, number: Int, data: TestData,
                         layers: [MappedFile], layerImages: [FileImage], layerDescriptors: [Int32]) {
        let stack = round.base != nil && generator.chance(30)
        if !stack {
            round.base?.unmap()
            let first = generator.below(data.pageCount / 2)
            let pages = 1 + generator.below(data.pageCount - first)
            do {
                round.base = try MappedFile.map(DataFile.base.name, firstFilePage: first, pages: pages)
                round.view = ExpectedView(base: data.base)
            } catch {
                Log.fail("round \(number): \(error)")
                round.base = nil
            }
        }
        round.layerIndex = generator.below(layers.count)
        let count = 1 + generator.below(12)
        round.segments = (0..<count).map { _ in
            let start = generator.below(data.pageCount)
            return start...(start + generator.below(40))
        }
        round.version2 = generator.chance(35)
        round.sharedStruct = generator.chance(50)
        round.winner = nil
        for index in round.createResults.indices {
            round.createResults[index] = -1
            round.ids[index] = nil
            round.cleanupResults[index] = -1
        }
        // The shared request: struct first, then layers, then segments.
        let segmentsAt = round.memory + 1024
        RawSegments.store(round.segments.map { (start: UInt($0.lowerBound), end: UInt($0.upperBound)) }, at: segmentsAt)
        let base = round.base.map { UnsafeRawPointer($0.innerAddress) }
        if round.version2 {
            let layer = RawLayer(fileDescriptor: layerDescriptors[round.layerIndex], segmentsAt: segmentsAt,
                                 segmentsSize: UInt64(count))
            RawLayer.store([layer], at: round.memory + 512)
            // The id is stored as zeros with the rest of the struct.
            RawStackRequest(baseAddress: base, layersAt: round.memory + 512, layersSize: 1).store(at: round.memory)
        } else {
            RawCreateRequest(baseAddress: base, overlayAddress: layers[round.layerIndex].innerAddress,
                             segmentsAt: segmentsAt, segmentsSize: UInt32(count)).store(at: round.memory)
        }
    }

    /// One thread's create: from the shared struct or a copy of its own.
    private func create(_ device: OverlayDevice, _ round: Round, layers: [MappedFile],
                        descriptors: [Int32]) -> (error: Errno?, id: OverlayID?) {
        guard let base = round.base else { return (Errno(rawValue: EINVAL), nil) }
        let command = round.version2 ? OverlayDevice.stackCommand : OverlayDevice.createCommand
        if round.sharedStruct {
            // The id is read back by thread 0 once the round is over.
            return (device.ioctl(command, round.memory), nil)
        }
        if round.version2 {
            switch device.stack(RawStackRequest(baseAddress: base.innerAddress, layers: [
                RawLayer(fileDescriptor: descriptors[round.layerIndex], segments: RawSegments(ranges: round.segments))])) {
            case .success(let id): return (nil, id)
            case .failure(let error): return (error, nil)
            }
        }
        switch device.create(RawCreateRequest(base: base.innerAddress, overlay: layers[round.layerIndex].innerAddress,
                                              segments: round.segments)) {
        case .success(let id): return (nil, id)
        case .failure(let error): return (error, nil)
        }
    }

    private func checkCreates(_ round: Round, number: Int, tally: Tally, stop: StopFlag) {
        let kind = round.version2 ? "stack" : "create"
        for code in round.createResults { tally.add(kind, code: code) }
        let winners = round.createResults.indices.filter { round.createResults[$0] == 0 }
        let others = round.createResults.filter { $0 != 0 && $0 != EEXIST && $0 != EBUSY }
        let label = "round \(number) (\(kind), \(round.sharedStruct ? "one shared struct" : "a struct per thread"))"
        if !expect(winners.count == 1 && others.isEmpty,
                   "\(label): \(winners.count) of \(round.createResults.count) creates succeeded, others: "
                   + round.createResults.filter { $0 != 0 }.map { Errno.describe($0) }.joined(separator: ", ")) {
            stop.set()
        }
        guard winners.count == 1 else { return }
        if round.sharedStruct {
            let offset = round.version2 ? RawStackRequest.idOffset : 0
            round.winner = OverlayID(bytes: Array(UnsafeRawBufferPointer(start: round.memory + offset, count: 16)))
        } else {
            round.winner = round.ids[winners[0]]
        }
        if round.winner == nil || round.winner == OverlayID.zero {
            Log.fail("\(label): the winning request left no id")
            round.winner = nil
            stop.set()
        }
    }

    private func checkCleanups(_ round: Round, number: Int, tally: Tally, stop: StopFlag) {
        guard round.winner != nil, let base = round.base, var view = round.view else { return }
        for code in round.cleanupResults { tally.add("cleanup", code: code) }
        let succeeded = round.cleanupResults.filter { $0 == 0 }.count
        let others = round.cleanupResults.filter { $0 != 0 && $0 != ENOENT }
        if !expect(succeeded == 1 && others.isEmpty,
                   "round \(number): \(succeeded) of \(round.cleanupResults.count) cleanups of the id succeeded, others: "
                   + round.cleanupResults.filter { $0 != 0 }.map { Errno.describe($0) }.joined(separator: ", ")) {
            stop.set()
        }
        view.overlay(round.layerImages[round.layerIndex], round.segments)
        round.view = view
        // The whole mapping on the last round, a few pages otherwise.
        let pages = number == configuration.raceRounds - 1 ? Array(base.filePages)
            : (0..<8).map { base.firstFilePage + ($0 * 7919 + number) % base.pageCount }
        if !verifyPages(base, view, label: "round \(number): mapping after the race", order: pages) { stop.set() }
    }
}
