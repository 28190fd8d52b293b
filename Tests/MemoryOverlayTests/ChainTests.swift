// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import Testing

@Suite("Snapshot chains without the device: the v2 request's layout and the chain model")
struct ChainTests {
    @Test func theRequestIsTheFirstVersionsStruct() {
        #expect(RawStackRequest.size == 72 && RawStackRequest.firstVersionSize == 48)
        #expect(RawStackRequest.idOffset == 32)
        #expect(RawLayer.stride == 24)
        #expect(RawStackRequest.maximumLayers == 255 && Layer.maximumCount == 255)
        #expect(RawLayer.dataExtentsFlag == 1)
    }

    /// The bytes a request stores: size, flags, base, layers_size, layers,
    /// a zero id, pidfd, reserved, the loading set, then the trailing bytes
    /// up to `size`.
    @Test func aStoredRequestHasTheABIsLayout() {
        var request = RawStackRequest(baseAddress: UnsafeRawPointer(bitPattern: 0x1234_5000),
                                      layersAt: UnsafeRawPointer(bitPattern: 0x7000), layersSize: 3)
        request.size = 80
        request.flags = 9
        request.pidfd = 5
        request.reserved = 6
        request.loadingSet = .address(UnsafeRawPointer(bitPattern: 0xA000), count: 7)
        request.trailingBytes = [1, 2]
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 88, alignment: 16)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0xEE)
        request.store(at: memory.baseAddress!)
        #expect(memory.load(fromByteOffset: 0, as: UInt32.self) == 80)
        #expect(memory.load(fromByteOffset: 4, as: UInt32.self) == 9)
        #expect(memory.load(fromByteOffset: 8, as: UInt64.self) == 0x1234_5000)
        #expect(memory.load(fromByteOffset: 16, as: UInt64.self) == 3)
        #expect(memory.load(fromByteOffset: 24, as: UInt64.self) == 0x7000)
        #expect(memory[32..<48].allSatisfy { $0 == 0 }, "the id is zero")
        #expect(memory.load(fromByteOffset: 48, as: Int32.self) == 5)
        #expect(memory.load(fromByteOffset: 52, as: UInt32.self) == 6)
        #expect(memory.load(fromByteOffset: 56, as: UInt64.self) == 7)
        #expect(memory.load(fromByteOffset: 64, as: UInt64.self) == 0xA000)
        #expect(Array(memory[72..<80]) == [1, 2, 0, 0, 0, 0, 0, 0], "trailing bytes, then zeros up to size")
        #expect(memory[80] == 0xEE, "nothing past size")
    }

    @Test func storedLayersHaveTheABIsLayout() {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 48, alignment: 16)
        defer { memory.deallocate() }
        RawLayer.store([RawLayer(fileDescriptor: 7, flags: 2, segmentsAt: UnsafeRawPointer(bitPattern: 0x9000),
                                 segmentsSize: 5),
                        .dataExtents(fileDescriptor: -1)], at: memory.baseAddress!)
        #expect(memory.load(fromByteOffset: 0, as: Int32.self) == 7)
        #expect(memory.load(fromByteOffset: 4, as: UInt32.self) == 2)
        #expect(memory.load(fromByteOffset: 8, as: UInt64.self) == 5)
        #expect(memory.load(fromByteOffset: 16, as: UInt64.self) == 0x9000)
        #expect(memory.load(fromByteOffset: 24, as: Int32.self) == -1)
        #expect(memory.load(fromByteOffset: 28, as: UInt32.self) == 1)
        #expect(memory.load(fromByteOffset: 32, as: UInt64.self) == 0)
        #expect(memory.load(fromByteOffset: 40, as: UInt64.self) == 0)
    }

    @Test func theTopmostLayerServesAPage() {
        let view = ChainView(basePages: 20, layers: [PageSet([2...9]), PageSet([]), PageSet([5...6, 30...40])])
        #expect(view.servingLayer(ofPage: 0) == 0)
        #expect(view.servingLayer(ofPage: 2) == 1)
        #expect(view.servingLayer(ofPage: 5) == 3)
        #expect(view.servingLayers == [0, 0, 1, 1, 1, 3, 3, 1, 1, 1] + [Int](repeating: 0, count: 10))
        #expect(view.pagesServed == [12, 6, 0, 2])
        #expect(view.runs.map(\.pages) == [0..<2, 2..<5, 5..<7, 7..<10, 10..<20])
        #expect(view.runs.map(\.layer) == [0, 1, 3, 1, 0])
    }

    @Test func consecutiveGeneratedDiffsOverlap() {
        for k in 1..<40 {
            let lower = PageSet(ChainGenerator.dirtyPages(ofDiff: k, pages: 1024))
            let upper = ChainGenerator.dirtyPages(ofDiff: k + 1, pages: 1024)
            #expect(upper.contains { range in range.contains { lower.contains($0) } }, "diffs \(k) and \(k + 1)")
        }
        #expect(ChainGenerator.baseData(pages: 256) == [0...119, 128...247])
    }
}
