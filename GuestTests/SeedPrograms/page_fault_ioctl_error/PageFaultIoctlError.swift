// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault_ioctl_error: bad requests get their errno and change nothing.
import Glibc
import MemoryOverlay
import MemoryOverlayTesting
import SeedProgramSupport

/// Fresh mappings of base.bin (private) and overlay.bin for one case.
struct Fixture {
    let base: MappedFile
    let layer: MappedFile
}

/// Each bad input must fail with its errno and leave everything as it was:
/// the base mapping still shows base.bin, and a correct request on it then
/// succeeds (no half-made overlay was left registered on it).
struct PageFaultIoctlError {
    let run: SeedRun
    let segments = SeedSegments.example
    var report: TAPReporter { run.report }
    var device: OverlayDevice { run.device }

    func main() -> Never {
        baseNotMapped()
        baseAnonymous()
        baseShared()
        endBeforeStart()
        noSegments()
        unreadableSegments()
        unreadableRequest()
        tooManySegments()
        alreadyOverlaid()
        privateWrites()
        unknownID()
        unknownCommands()
        run.finish()
    }

    // MARK: EINVAL

    func baseNotMapped() {
        let what = "base address not mapped"
        guard let fixture = makeFixture(what) else { return }
        let unmapped = unmappedAddress()
        refuse(create(baseAddress: unmapped, overlayAddress: fixture.layer.address, segments: RawSegments(segments)),
               .invalidArgument, what)
        expectUnchanged(fixture, what)
    }

    func baseAnonymous() {
        let what = "base address in an anonymous mapping"
        guard let fixture = makeFixture(what) else { return }
        do {
            let anonymous = try MappedFile(anonymousPages: 16)
            anonymous.bytes.initializeMemory(as: UInt8.self, repeating: 0xAB)
            refuse(create(baseAddress: anonymous.address, overlayAddress: fixture.layer.address,
                                 segments: RawSegments(segments)), .invalidArgument, what)
            report.check(anonymous.bytes.allSatisfy { $0 == 0xAB }, "\(what): the anonymous mapping is unchanged")
        } catch {
            report.fail("\(what): mmap: \(error)")
        }
        expectUnchanged(fixture, what)
    }

    func baseShared() {
        let what = "base address in a MAP_SHARED mapping of base.bin"
        guard let fixture = makeFixture(what) else { return }
        do {
            let shared = try run.data.map(.base, sharing: .shared)
            refuse(create(baseAddress: shared.address, overlayAddress: fixture.layer.address,
                                 segments: RawSegments(segments)), .invalidArgument, what)
            report.verify(shared, with: run.data.plainVerifier(), "\(what): the shared mapping still shows base.bin")
        } catch {
            report.fail("\(what): mmap: \(error)")
        }
        expectUnchanged(fixture, what)
    }

    func endBeforeStart() {
        let what = "a segment ends before it starts ({90-80} after valid ones)"
        guard let fixture = makeFixture(what) else { return }
        let bad = RawSegments(pairs: [(start: 0, end: 0), (start: 4, end: 6), (start: 90, end: 80)])
        refuse(create(baseAddress: fixture.base.address, overlayAddress: fixture.layer.address, segments: bad),
               .invalidArgument, what)
        expectUnchanged(fixture, what)
    }

    func noSegments() {
        let what = "no segments (segments_size 0)"
        guard let fixture = makeFixture(what) else { return }
        refuse(create(baseAddress: fixture.base.address, overlayAddress: fixture.layer.address,
                             segments: RawSegments(pairs: [])), .invalidArgument, what)
        expectUnchanged(fixture, what)
    }

    // MARK: EFAULT

    /// The segments pointer leads to memory the kernel cannot read: a
    /// PROT_NONE page, an unmapped address.
    func unreadableSegments() {
        do {
            let page = try MappedFile(anonymousPages: 1, protection: [])
            unreadableSegments(at: page.address, "segments pointer to a PROT_NONE page")
        } catch {
            report.fail("segments pointer to a PROT_NONE page: mmap: \(error)")
        }
        unreadableSegments(at: unmappedAddress(), "segments pointer to an unmapped address")
    }

    func unreadableSegments(at pointer: UnsafeRawPointer?, _ what: String) {
        guard let fixture = makeFixture(what) else { return }
        let result = device.create(RawCreateRequest(baseAddress: fixture.base.address,
                                                    overlayAddress: fixture.layer.address,
                                                    segmentsAt: pointer, segmentsSize: 3))
        refuse(result, .badAddress, what)
        expectUnchanged(fixture, what)
    }

    func unreadableRequest() {
        let what = "request pointer NULL"
        guard let fixture = makeFixture(what) else { return }
        let result: Result<Void, Errno> = device.ioctl(OverlayDevice.createCommand, nil).map { .failure($0) }
            ?? .success(())
        refuse(result, .badAddress, what)
        expectUnchanged(fixture, what)
    }

    // MARK: E2BIG

    func tooManySegments() {
        let count = SegmentList.maximumCount + 1
        let what = "\(count) segments (MEM_OVERLAY_MAX_SEGMENTS + 1)"
        guard let fixture = makeFixture(what) else { return }
        // Every segment valid, so that the count alone is wrong.
        let many = RawSegments(pairs: Array(repeating: (start: UInt(0), end: UInt(0)), count: count))
        refuse(create(baseAddress: fixture.base.address, overlayAddress: fixture.layer.address, segments: many),
               .argListTooLong, what)
        expectUnchanged(fixture, what)
    }

    // MARK: EEXIST

    /// A second request on a mapping whose overlay is still registered.
    func alreadyOverlaid() {
        let what = "second request on an overlaid mapping"
        guard let fixture = makeFixture(what) else { return }
        let overlay: Overlay
        do {
            overlay = try device.overlay(base: fixture.base, layer: fixture.layer, segments: segments)
        } catch {
            report.fail("\(what): the first request: \(error)")
            return
        }
        // Different segments: had the second request been applied, pages
        // 200-300 would show the overlay file.
        let other = RawSegments(pairs: [(start: 200, end: 300)])
        refuse(create(baseAddress: fixture.base.address, overlayAddress: fixture.layer.address,
                             segments: other), .fileExists, what)
        report.verify(fixture.base, with: run.data.verifier(segments: segments),
                      "\(what): the mapping still shows the first overlay")
        report.remove("\(what): cleanup of the first overlay", overlay)
    }

    // MARK: EBUSY

    /// The base mapping holds a private copy of a page: replacing the
    /// mapping would lose it, so the request must be refused.
    func privateWrites() {
        let what = "base mapping already written privately"
        let base: MappedFile, layer: MappedFile
        do {
            base = try run.data.map(.base, protection: [.read, .write])
            layer = try run.data.map(.overlay)
        } catch {
            report.fail("\(what): mmap: \(error)")
            return
        }
        let page = Swift.min(3, base.pageCount - 1)
        let written = base.page(atFilePage: page)
        let original = written.load(as: UInt64.self)
        let marker: UInt64 = 0x5752_4954_5445_4E21  // "!NETTIRW": not in any data file
        written.storeBytes(of: marker, as: UInt64.self)
        refuse(create(baseAddress: base.address, overlayAddress: layer.address, segments: RawSegments(segments)),
               .resourceBusy, what)
        report.check(written.load(as: UInt64.self) == marker, "\(what): the private write to page \(page) is kept")
        // With the written bytes put back the whole mapping must equal
        // base.bin (the page stays a private copy, now with base.bin's bytes).
        written.storeBytes(of: original, as: UInt64.self)
        report.verify(base, with: run.data.plainVerifier(),
                      "\(what): with the written bytes put back, the mapping shows base.bin")
    }

    // MARK: ENOENT

    func unknownID() {
        let what = "cleanup of an unknown (random) id"
        guard let fixture = makeFixture(what) else { return }
        var generator = SystemRandomNumberGenerator()
        let randomBytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        if let id = OverlayID(bytes: randomBytes) {
            refuse(Result { () throws(Errno) in try device.cleanup(id) }, .noSuchFileOrDirectory, what)
        }
        expectUnchanged(fixture, what)

        let again = "second cleanup of an id"
        guard let second = makeFixture(again) else { return }
        do {
            let overlay = try device.overlay(base: second.base, layer: second.layer, segments: segments)
            let id = overlay.id
            try overlay.remove()
            refuse(Result { () throws(Errno) in try device.cleanup(id) }, .noSuchFileOrDirectory, again)
            report.verify(second.base, with: run.data.verifier(segments: segments),
                          "\(again): the mapping still shows the overlay")
        } catch {
            report.fail("\(again): the request or the first cleanup: \(error)")
        }
    }

    // MARK: ENOTTY

    /// Command numbers the module does not define, each with a valid create
    /// request as argument: acting on it would change the mapping.
    func unknownCommands() {
        let commands: [(UInt, String)] = [
            (OverlayDevice.command([.read, .write], type: "s", number: 3, size: 8), "_IOWR('s', 3, 8): unknown number"),
            (OverlayDevice.command([.read, .write], type: "x", number: 1, size: 8), "_IOWR('x', 1, 8): another type"),
            (OverlayDevice.command([.read, .write], type: "s", number: 1, size: RawCreateRequest.size),
             "_IOWR('s', 1, \(RawCreateRequest.size)): the create number with the struct's size"),
            (UInt(UInt8(ascii: "s")) << 8 | 1, "_IO('s', 1): the create number without direction or size"),
        ]
        for (command, name) in commands {
            let what = name
            guard let fixture = makeFixture(what) else { continue }
            let request = RawCreateRequest(baseAddress: fixture.base.address, overlayAddress: fixture.layer.address,
                                           segments: RawSegments(segments))
            let (error, id) = device.send(request, command: command)
            let result: Result<Void, Errno> = error.map { .failure($0) } ?? .success(())
            if case .success = result { try? device.cleanup(id) }
            refuse(result, .inappropriateIOCTLForDevice, what)
            report.check(id.bytes.allSatisfy { $0 == 0 }, "\(what): the request's id field is untouched")
            expectUnchanged(fixture, what)
        }
    }

    // MARK: Helpers

    /// The create request, its errno as a value.
    func create(baseAddress: UnsafeRawPointer?, overlayAddress: UnsafeRawPointer?,
                segments: RawSegments) -> Result<OverlayID, Errno> {
        device.create(RawCreateRequest(baseAddress: baseAddress, overlayAddress: overlayAddress, segments: segments))
    }

    func makeFixture(_ what: String) -> Fixture? {
        do {
            return Fixture(base: try run.data.map(.base), layer: try run.data.map(.overlay))
        } catch {
            report.fail("\(what): mapping base.bin and overlay.bin: \(error)")
            return nil
        }
    }

    /// Records that `result` is the refusal `expected`; a request that
    /// succeeded after all is cleaned up, so it cannot spoil what follows.
    func refuse<Success>(_ result: Result<Success, Errno>, _ expected: Errno, _ what: String) {
        report.expectError(result, expected, what)
        if case .success(let id as OverlayID) = result { try? device.cleanup(id) }
    }

    /// The base mapping still shows base.bin; a correct request on it
    /// then succeeds, shows the overlay and cleans up.
    func expectUnchanged(_ fixture: Fixture, _ what: String) {
        let unchanged = report.verify(fixture.base, with: run.data.plainVerifier(),
                                      "\(what): the base mapping still shows base.bin")
        guard unchanged else { return }
        do {
            let overlay = try device.overlay(base: fixture.base, layer: fixture.layer, segments: segments)
            let verifier = run.data.verifier(segments: segments)
            let report = try verifier.verify(overlay.base)
            try overlay.remove()
            self.report.check(report.passed, "\(what): a correct request on it then works",
                              why: "\(report.mismatchCount) pages wrong after it")
        } catch {
            report.fail("\(what): a correct request on it then: \(error)")
        }
    }

    /// An address where nothing is mapped: a page mapped and unmapped again
    /// at once (the temporary mapping is released at the end of the
    /// statement). Nothing in this single-threaded program maps there
    /// before the address is used.
    func unmappedAddress() -> UnsafeMutableRawPointer? {
        (try? MappedFile(anonymousPages: 1, protection: []))?.address
    }
}

/// `page_fault_ioctl_error`: its options and help; the checks are ``PageFaultIoctlError``'s.
@main
struct PageFaultIoctlErrorCommand: SeedProgram {
    static let abstract = "Bad requests get their errno and change nothing."
    static let details = """
        Sends bad requests to /dev/batch_syscalls and checks that each gets its \
        errno and changes nothing: EINVAL (base address not mapped, in an \
        anonymous mapping, in a MAP_SHARED mapping; a segment ending before it \
        starts; no segments), EFAULT (segments pointer unreadable, request \
        pointer NULL), E2BIG (MEM_OVERLAY_MAX_SEGMENTS + 1 segments), EEXIST \
        (second request on an overlaid mapping), EBUSY (base mapping already \
        written privately), ENOENT (cleanup of an unknown id), ENOTTY (command \
        numbers the module does not define). After each refusal the base \
        mapping must still show base.bin, and a correct request on it must \
        then work. Needs the module loaded and root.
        """

    @OptionGroup var common: SeedOptions

    func check(_ run: SeedRun) -> Never { PageFaultIoctlError(run: run).main() }
}
