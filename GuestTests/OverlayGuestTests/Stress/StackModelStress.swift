// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Random stacks checked page by page against the model (`ExpectedView`):
/// a base mapping at a random file offset (sometimes running past the
/// base file's end), then one to four requests laid on it one after the
/// other (each cleaned up before the next), v1 with the layer mapped at a
/// random offset of its own (which must not shift anything) or v2 with up
/// to three layers at once. Layers: overlay.bin, the zebra, base2.bin and
/// a copy of overlay.bin cut to 600 pages (its pages past that raise
/// SIGBUS). Every page of the mapping is checked after each request,
/// sometimes with the caches dropped first.
struct StackModelStress {
    let configuration: StressConfiguration
    let seed: UInt64

    func run() throws {
        let device = try openDeviceAsRoot()
        let data = try TestData.load()
        let short = try ScratchFile.copy(of: DataFile.overlay.name, bytes: 600 * pageSize, name: "short-layer")
        defer { short.close() }
        let shortImage = try FileImage.load(fd: short.fd, name: "overlay.bin cut to 600 pages")
        let shortPath = "/proc/self/fd/\(short.fd)"
        let layers: [(path: String, image: FileImage)] = [
            (DataFile.overlay.name, data.overlay), (DataFile.zebra.name, data.zebra),
            (DataFile.base2.name, data.base2), (shortPath, shortImage),
        ]
        let descriptors = layers.map { open($0.path, O_RDONLY | O_CLOEXEC) }
        defer { descriptors.forEach { close($0) } }
        var generator = SplitMix64(seed: seed)
        var pagesChecked = 0
        for number in 0..<configuration.stackRounds where Log.failures < 10 {
            let first = generator.below(data.pageCount - 16)
            // Mostly inside the file; sometimes past its end (SIGBUS there).
            let pages = 1 + generator.below(generator.chance(15) ? 300 : min(256, data.pageCount - first))
            let base = try MappedFile.map(DataFile.base.name, firstFilePage: first, pages: pages,
                                          protection: generator.chance(50) ? PROT_READ : PROT_READ | PROT_WRITE)
            defer { base.unmap() }
            var view = ExpectedView(base: data.base)
            var steps: [String] = []
            for request in 0..<(1 + generator.below(4)) {
                let randomSegments = { (generator: inout SplitMix64) -> [ClosedRange<Int>] in
                    (0..<(1 + generator.below(8))).map { _ in
                        let start = max(0, first - 8 + generator.below(pages + 16))
                        return start...(start + generator.below(generator.chance(20) ? 200 : 12))
                    }
                }
                let result: Result<OverlayID, Errno>
                if generator.chance(60) {
                    let layer = generator.below(layers.count)
                    let segments = randomSegments(&generator)
                    let offset = generator.below(layers[layer].image.pageCount)
                    let mapping = try MappedFile.map(layers[layer].path, firstFilePage: offset,
                                                     pages: 1 + generator.below(layers[layer].image.pageCount - offset))
                    defer { mapping.unmap() }
                    result = device.create(RawCreateRequest(base: base.innerAddress, overlay: mapping.innerAddress,
                                                            segments: segments))
                    view.overlay(layers[layer].image, segments)
                    steps.append("v1 \(layers[layer].image.name) (mapped from page \(offset)) \(segments)")
                } else {
                    let chain = (0..<(1 + generator.below(3))).map { _ in (generator.below(layers.count), randomSegments(&generator)) }
                    result = device.stack(RawStackRequest(baseAddress: base.innerAddress, layers: chain.map {
                        RawLayer(fileDescriptor: descriptors[$0.0], segments: RawSegments(ranges: $0.1))
                    }))
                    for (layer, segments) in chain { view.overlay(layers[layer].image, segments) }
                    steps.append("v2 " + chain.map { "\(layers[$0.0].image.name) \($0.1)" }.joined(separator: " then "))
                }
                let label = "stack \(number) (base.bin from page \(first), \(pages) pages), request \(request): \(steps.last!)"
                guard case .success(let id) = result else {
                    Log.fail("\(label): \(result.failure!)")
                    break
                }
                if generator.chance(25) { try SystemFiles.dropCaches() }
                if !verifyPages(base, view, label: label) { Log.note("stack so far: " + steps.joined(separator: "; ")) }
                pagesChecked += pages
                expectErrno(try device.cleanup(id), 0, "\(label): cleanup")
            }
        }
        Log.note("\(configuration.stackRounds) stacks, \(pagesChecked) pages checked")
    }
}
