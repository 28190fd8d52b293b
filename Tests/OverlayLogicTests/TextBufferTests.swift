// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

@Suite struct TextBufferTests {
    private func render(capacity: Int, _ body: (inout TextBuffer) -> Void) -> (String, Bool) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { buffer.deallocate() }
        var text = TextBuffer(buffer)
        body(&text)
        return (String(decoding: buffer.prefix(text.count), as: UTF8.self), text.overflowed)
    }

    @Test func decimalHexAndText() {
        let (line, overflowed) = render(capacity: 128) { text in
            text.append("id=")
            text.appendHex(0x0123_4567_89ab_cdef)
            text.append(" n=")
            text.append(0)
            text.append(",")
            text.append(UInt64.max)
        }
        #expect(line == "id=0123456789abcdef n=0,18446744073709551615")
        #expect(!overflowed)
    }

    @Test func overflowIsReportedNotWritten() {
        let (line, overflowed) = render(capacity: 5) { text in text.append("overlays=12") }
        #expect(line == "overl")
        #expect(overflowed)
    }
}
