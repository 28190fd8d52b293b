// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct OverlayRegistryTests {
    let alice = OwnerToken(processID: 100, startTime: 1)
    let bob = OwnerToken(processID: 200, startTime: 2)
    /// A reused pid is another process.
    let aliceReincarnated = OwnerToken(processID: 100, startTime: 9)

    func handle(_ n: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: n * 64)! }
    func entry(_ id: UInt64, _ owner: OwnerToken, _ n: Int) -> OverlayRegistry.Entry {
        .init(id: OverlayID(high: id, low: ~id), owner: owner, handle: handle(n))
    }

    @Test func ownerRule() throws {
        var registry = OverlayRegistry()
        try registry.insert(entry(1, alice, 1))
        let id = OverlayID(high: 1, low: ~1)
        #expect(throws: OverlayError.notOwner) { _ = try registry.remove(id: id, requester: bob) }
        #expect(throws: OverlayError.notOwner) { _ = try registry.remove(id: id, requester: aliceReincarnated) }
        let removed = try registry.remove(id: id, requester: alice)
        #expect(removed == handle(1))
        #expect(throws: OverlayError.unknownID) { _ = try registry.remove(id: id, requester: alice) }
    }

    @Test func duplicateIDIsRefusedAndChangesNothing() throws {
        var registry = OverlayRegistry()
        try registry.insert(entry(5, alice, 1))
        #expect(throws: OverlayError.alreadyOverlaid) { try registry.insert(entry(5, bob, 2)) }
        let count = registry.count
        #expect(count == 1)
        let kept = registry.contains(id: OverlayID(high: 5, low: ~5), handle: handle(1))
        #expect(kept)
    }

    @Test func releaseRemovesOnlyMatchingHandle() throws {
        var registry = OverlayRegistry()
        try registry.insert(entry(3, alice, 1))
        let id = OverlayID(high: 3, low: ~3)
        let wrong = registry.remove(id: id, handle: handle(2))
        #expect(!wrong)
        let right = registry.remove(id: id, handle: handle(1))
        #expect(right)
        let again = registry.remove(id: id, handle: handle(1))
        #expect(!again)
    }

    @Test func failedGrowthKeepsEntries() throws {
        var registry = OverlayRegistry()
        for n in 0..<16 { try registry.insert(entry(UInt64(n), alice, n + 1)) }
        HostMemory.$failureThreshold.withValue(0) {
            #expect(throws: OverlayError.outOfMemory) { try registry.insert(entry(99, alice, 99)) }
        }
        let count = registry.count
        #expect(count == 16)
        for n in 0..<16 {
            let present = registry.contains(id: OverlayID(high: UInt64(n), low: ~UInt64(n)), handle: handle(n + 1))
            #expect(present)
        }
    }

    /// Property test against a dictionary model: random inserts and removals
    /// keep the same contents, in id order.
    @Test(arguments: 0..<20)
    func matchesDictionaryModel(seed: Int) throws {
        var generator = SplitMix64(seed: UInt64(seed) &+ 1000)
        var registry = OverlayRegistry()
        var model: [UInt64: (OwnerToken, Int)] = [:]
        for step in 0..<2000 {
            let key = UInt64.random(in: 0..<300, using: &generator)
            let id = OverlayID(high: key >> 4, low: key)
            let owner = Bool.random(using: &generator) ? alice : bob
            switch Int.random(in: 0..<3, using: &generator) {
            case 0:
                if model[key] == nil {
                    try registry.insert(.init(id: id, owner: owner, handle: handle(step + 1)))
                    model[key] = (owner, step + 1)
                } else {
                    #expect(throws: OverlayError.alreadyOverlaid) {
                        try registry.insert(.init(id: id, owner: owner, handle: handle(step + 1)))
                    }
                }
            case 1:
                if let (expectedOwner, n) = model[key] {
                    if expectedOwner == owner {
                        let removed = try registry.remove(id: id, requester: owner)
                        #expect(removed == handle(n))
                        model[key] = nil
                    } else {
                        #expect(throws: OverlayError.notOwner) { _ = try registry.remove(id: id, requester: owner) }
                    }
                } else {
                    #expect(throws: OverlayError.unknownID) { _ = try registry.remove(id: id, requester: owner) }
                }
            default:
                if let (_, n) = model[key] {
                    let removed = registry.remove(id: id, handle: handle(n))
                    #expect(removed)
                    model[key] = nil
                }
            }
        }
        var listed: [UInt64] = []
        registry.forEach { listed.append($0.id.low) }
        let expected = model.keys.map { OverlayID(high: $0 >> 4, low: $0) }.sorted().map(\.low)
        #expect(listed == expected)
    }
}

@Suite struct SharedOverlayIndexTests {
    func handle(_ n: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: n * 64)! }

    @Test func claimsTheFirstTakenCandidateAndDropsStaleOnes() throws {
        var index = SharedOverlayIndex()
        try index.insert(fingerprint: 7, handle: handle(1))
        try index.insert(fingerprint: 3, handle: handle(2))
        try index.insert(fingerprint: 7, handle: handle(3))
        try index.insert(fingerprint: 7, handle: handle(4))
        var seen: [UnsafeMutableRawPointer] = []
        let taken = index.claim(fingerprint: 7) { candidate in
            seen.append(candidate)
            if candidate == handle(1) { return .drop }
            return candidate == handle(4) ? .take : .skip
        }
        #expect(taken == handle(4))
        #expect(seen == [handle(1), handle(3), handle(4)], "candidates in insertion order")
        let left = index.count
        #expect(left == 3)
        let dropped = index.claim(fingerprint: 7) { $0 == handle(1) ? .take : .skip }
        #expect(dropped == nil, "the dropped one is gone")
        let unknown = index.claim(fingerprint: 5) { _ in .take }
        #expect(unknown == nil)
        let removed = index.remove(fingerprint: 7, handle: handle(3))
        let removedTwice = index.remove(fingerprint: 7, handle: handle(3))
        let wrongFingerprint = index.remove(fingerprint: 3, handle: handle(4))
        #expect(removed && !removedTwice)
        #expect(!wrongFingerprint, "only under its own fingerprint")
        let count = index.count
        #expect(count == 2)
    }

    @Test func visitsEveryEntryAndRemovesThePickedOne() throws {
        var index = SharedOverlayIndex()
        try index.insert(fingerprint: 9, handle: handle(1))
        try index.insert(fingerprint: 2, handle: handle(2))
        try index.insert(fingerprint: 9, handle: handle(3))
        var visited: [UnsafeMutableRawPointer] = []
        index.forEach { visited.append($0) }
        #expect(visited == [handle(2), handle(1), handle(3)], "fingerprint order, then insertion order")
        var asked: [UnsafeMutableRawPointer] = []
        let picked = index.removeFirst { candidate in
            asked.append(candidate)
            return candidate == handle(1) || candidate == handle(3)
        }
        #expect(picked == handle(1), "the first picked one")
        #expect(asked == [handle(2), handle(1)], "no candidate after it is asked")
        var left: [UnsafeMutableRawPointer] = []
        index.forEach { left.append($0) }
        #expect(left == [handle(2), handle(3)])
        let none = index.removeFirst { _ in false }
        #expect(none == nil)
        let count = index.count
        #expect(count == 2)
    }

    @Test func fingerprintsFollowTheSegments() throws {
        func fingerprint(_ ranges: [PageRange], layer: LayerIndex = 1) throws -> UInt64 {
            var fingerprint = StackFingerprint()
            try makeTable(ranges, layer: layer).fingerprint(into: &fingerprint)
            return fingerprint.value
        }
        #expect(try fingerprint([r(0, 3), r(9, 9)]) == fingerprint([r(9, 9), r(0, 2), r(3, 3)]))
        #expect(try fingerprint([r(0, 3)]) != fingerprint([r(0, 4)]))
        #expect(try fingerprint([r(0, 3)]) != fingerprint([r(0, 3)], layer: 2))
        #expect(try fingerprint([r(0, 3), r(5, 6)]) != fingerprint([r(5, 6)]))
        let a = try makeTable([r(0, 3), r(9, 9)])
        let b = try makeTable([r(9, 9), r(0, 3)])
        let c = try makeTable([r(0, 3), r(9, 10)])
        let same = a.hasSameSegments(as: b)
        let different = a.hasSameSegments(as: c)
        #expect(same && !different)
    }
}
