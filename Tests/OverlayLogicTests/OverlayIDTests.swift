// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct OverlayIDTests {
    @Test func bytesRoundTrip() {
        let bytes: [UInt8] = (0..<16).map { UInt8($0 * 15 + 3) }
        let id = bytes.withUnsafeBytes { OverlayID(bytes: $0) }
        #expect(id.high == 0x0312_2130_3F4E_5D6C)
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { id.write(to: $0) }
        #expect(out == bytes)
    }

    @Test func errnoTable() {
        let table: [(OverlayError, Int32)] = [
            (.noSegments, 22), (.segmentEndsBeforeStart(index: 0), 22), (.baseNotPrivateFileMapping, 22),
            (.overlayNotFileMapping, 22), (.tooManySegments, 7), (.badAddress, 14), (.alreadyOverlaid, 17),
            (.mappingHasPrivateWrites, 16), (.tooManyLayers, 7), (.unknownID, 2), (.notOwner, 1), (.unknownCommand, 25),
            (.outOfMemory, 12), (.kernel(errno: 95), 95), (.requestTooSmall, 22), (.unknownRequestFields, 7),
            (.unknownFlags, 22), (.noLayers, 22), (.badDescriptor, 9), (.layerNotReadable, 13),
            (.layerNotRegularFile, 22),
        ]
        for (error, errno) in table {
            #expect(error.errno == errno)
            #expect(error.negativeErrno == -Int(errno))
        }
    }
}
