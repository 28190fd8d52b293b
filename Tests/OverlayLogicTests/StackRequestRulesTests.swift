// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
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
        try StackRequestRules.check(flags: StackRequestRules.pidfdFlag, layerCount: 1)
        try StackRequestRules.check(flags: StackRequestRules.populateFlag | StackRequestRules.pidfdFlag, layerCount: 1)
        #expect(throws: OverlayError.unknownFlags) { try StackRequestRules.check(flags: 4, layerCount: 1) }
        try StackRequestRules.check(flags: 0, layerCount: 255)
        #expect(throws: OverlayError.unknownFlags) { try StackRequestRules.check(flags: 0x8000_0000, layerCount: 1) }
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

    /// The fields of version 2 (the loading set): populating needs one;
    /// no more ranges than a segment list may have.
    @Test func loadingSetFields() throws {
        #expect(try !StackRequestRules.hasLoadingSet(flags: 0, count: 0))
        #expect(try StackRequestRules.hasLoadingSet(flags: 0, count: 1))
        #expect(try StackRequestRules.hasLoadingSet(flags: StackRequestRules.populateFlag, count: 3))
        #expect(throws: OverlayError.populateWithoutLoadingSet) {
            try StackRequestRules.hasLoadingSet(flags: StackRequestRules.populateFlag, count: 0)
        }
        #expect(try StackRequestRules.hasLoadingSet(flags: 0, count: UInt64(SegmentLimits.maxSegments)))
        #expect(throws: OverlayError.tooManySegments) {
            try StackRequestRules.hasLoadingSet(flags: 0, count: UInt64(SegmentLimits.maxSegments) + 1)
        }
        #expect(OverlayError.populateWithoutLoadingSet.errno == EINVAL)
    }

    /// The fields of version 1 (pidfd, reserved): zero unless the flag names
    /// a process; reserved always zero. An older caller's struct reads as
    /// far as it goes.
    @Test func targetFields() throws {
        #expect(try !StackRequestRules.namesProcess(flags: 0, pidfd: 0, reserved: 0))
        #expect(try StackRequestRules.namesProcess(flags: StackRequestRules.pidfdFlag, pidfd: 3, reserved: 0))
        #expect(try StackRequestRules.namesProcess(flags: StackRequestRules.pidfdFlag, pidfd: 0, reserved: 0))
        #expect(throws: OverlayError.unexpectedTargetFields) {
            try StackRequestRules.namesProcess(flags: 0, pidfd: 3, reserved: 0)
        }
        #expect(throws: OverlayError.unexpectedTargetFields) {
            try StackRequestRules.namesProcess(flags: StackRequestRules.pidfdFlag, pidfd: 3, reserved: 1)
        }
        #expect(StackRequestRules.bytesToRead(size: 56, knownSize: 72) == 56, "a version 1 caller: no loading set")
        #expect(StackRequestRules.bytesToRead(size: 48, knownSize: 56) == 48)
        #expect(StackRequestRules.bytesToRead(size: 4096, knownSize: 56) == 56)
        #expect(OverlayError.unexpectedTargetFields.errno == EINVAL)
        #expect(OverlayError.notAProcess.errno == EBADF && OverlayError.processGone.errno == ESRCH
                && OverlayError.mayNotWriteProcess.errno == EPERM)
    }
}
