// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct StackRequestRulesTests {
    @Test func sizeFollowsTheExtensibleStructRules() throws {
        for size: UInt32 in [0, 8, 47] {
            #expect(throws: OverlayError.requestTooSmall) { try StackRequestRules.unknownTail(size: size, knownSize: 48) }
        }
        #expect(try StackRequestRules.unknownTail(size: 48, knownSize: 48) == nil)
        #expect(try StackRequestRules.unknownTail(size: 56, knownSize: 48) == 48..<56)
        #expect(try StackRequestRules.unknownTail(size: 4096, knownSize: 48) == 48..<4096)
        #expect(try StackRequestRules.unknownTail(size: 56, knownSize: 64) == nil, "an older caller")
        #expect(throws: OverlayError.unknownRequestFields) { try StackRequestRules.unknownTail(size: 4097, knownSize: 48) }
    }

    @Test func requestAndLayerFields() throws {
        try StackRequestRules.check(flags: 0, layerCount: 1)
        try StackRequestRules.check(flags: 0, layerCount: 255)
        #expect(throws: OverlayError.unknownFlags) { try StackRequestRules.check(flags: 1, layerCount: 1) }
        #expect(throws: OverlayError.noLayers) { try StackRequestRules.check(flags: 0, layerCount: 0) }
        #expect(throws: OverlayError.tooManyLayers) { try StackRequestRules.check(flags: 0, layerCount: 256) }
        #expect(try StackRequestRules.isLaidByDataExtents(layerFlags: 1))
        #expect(try !StackRequestRules.isLaidByDataExtents(layerFlags: 0))
        #expect(try !StackRequestRules.isLaidByDataExtents(layerFlags: LayerRoles.ownFlag))
        #expect(try StackRequestRules.isLaidByDataExtents(layerFlags: 1 | LayerRoles.sharedFlag))
        #expect(throws: OverlayError.unknownFlags) { try StackRequestRules.isLaidByDataExtents(layerFlags: 8) }
        #expect(throws: OverlayError.unknownFlags) {
            try StackRequestRules.isLaidByDataExtents(layerFlags: LayerRoles.ownFlag | LayerRoles.sharedFlag)
        }
        try StackRequestRules.check(segmentCount: UInt64(SegmentLimits.maxSegments))
        #expect(throws: OverlayError.tooManySegments) {
            try StackRequestRules.check(segmentCount: UInt64(SegmentLimits.maxSegments) + 1)
        }
        #expect(throws: OverlayError.tooManySegments) { try StackRequestRules.check(segmentCount: .max) }
    }
}
