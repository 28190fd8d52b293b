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
