// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage
import Testing

@Suite("OverlayError: the ABI's errnos in words, the errno kept")
struct OverlayErrorTests {
    /// Each request's errnos of docs/abi.md, and what they mean there.
    static let meanings: [(Errno, OverlayError.Request, OverlayError)] = [
        (.noSuchFileOrDirectory, .open, .moduleNotLoaded),
        (.permissionDenied, .open, .permissionDenied),
        (.invalidArgument, .create, .invalidRequest),
        (.badAddress, .create, .badAddress),
        (.argListTooLong, .create, .tooLarge),
        (.fileExists, .create, .alreadyOverlaid),
        (.resourceBusy, .create, .mappingHoldsPrivateWrites),
        (.noMemory, .create, .outOfMemory),
        (.interrupted, .create, .interrupted),
        (.inappropriateIOCTLForDevice, .create, .unsupportedRequest),
        (.badFileDescriptor, .stack, .badLayerDescriptor),
        (.permissionDenied, .stack, .layerNotReadable),
        (.fileExists, .stack, .alreadyOverlaid),
        (.inappropriateIOCTLForDevice, .stack, .unsupportedRequest),
        (.noSuchFileOrDirectory, .cleanup, .unknownID),
        (.notPermitted, .cleanup, .notPermitted),
        (.notPermitted, .stackInProcess, .processNotWritable),
        (.noSuchProcess, .stackInProcess, .processGone),
        (.badFileDescriptor, .stackInProcess, .badLayerDescriptor),
        (.resourceBusy, .stackInProcess, .mappingHoldsPrivateWrites),
        (.noSuchProcess, .stack, .other(.noSuchProcess)),
        (.operationNotSupportedByDevice, .open, .other(.operationNotSupportedByDevice)),
        (.noSuchFileOrDirectory, .create, .other(.noSuchFileOrDirectory)),
        (.fileExists, .cleanup, .other(.fileExists)),
    ]

    @Test func namesEachErrnoAsItsRequestMeansIt() {
        for (errno, request, meaning) in Self.meanings {
            #expect(OverlayError(errno, from: request) == meaning, "\(errno.name) from \(request)")
        }
    }

    @Test func keepsTheErrno() {
        for (errno, request, _) in Self.meanings {
            #expect(OverlayError(errno, from: request).errno == errno, "\(errno.name) from \(request)")
        }
    }

    @Test func saysWhatWentWrongAndTheErrnosName() {
        #expect(OverlayError.alreadyOverlaid.description == "already overlaid (EEXIST)")
        #expect(OverlayError.mappingHoldsPrivateWrites.description == "mapping holds private writes (EBUSY)")
        #expect(OverlayError.unknownID.description == "unknown id (ENOENT)")
        #expect(OverlayError.other(.operationNotSupportedByDevice).description.hasSuffix("(ENODEV)"))
    }

    @Test func matchesInACatchClause() {
        func refused() throws(OverlayError) { throw .alreadyOverlaid }
        var caught = false
        do { try refused() } catch .alreadyOverlaid { caught = true } catch {}
        #expect(caught)
    }
}
