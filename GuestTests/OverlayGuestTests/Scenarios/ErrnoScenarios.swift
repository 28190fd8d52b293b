// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// Bad input gets a clear errno and changes nothing: after each failed
/// request the base mapping still shows base.bin and a correct request on
/// it succeeds.
enum ErrnoScenarios {
    static var all: [Scenario] { [
        Scenario("errno: EINVAL base address not in a file-backed private mapping (anonymous, unmapped, NULL, MAP_SHARED)", invalidBase),
        Scenario("errno: EINVAL overlay address not in a file mapping (anonymous, unmapped, NULL)", invalidOverlay),
        Scenario("errno: EINVAL segment with end < start", reversedSegment),
        Scenario("errno: EINVAL no segments (segments_size 0)", noSegments),
        Scenario("errno: EFAULT segments unreadable (NULL, PROT_NONE, array running into PROT_NONE)", unreadableSegments),
        Scenario("errno: EFAULT request unreadable (NULL, PROT_NONE, struct running into PROT_NONE)", unreadableRequest),
        Scenario("errno: EFAULT request read-only (the id cannot be written back)", readOnlyRequest),
        Scenario("errno: E2BIG more than MEM_OVERLAY_MAX_SEGMENTS segments (exactly the limit accepted)", tooManySegments),
        Scenario("errno: EEXIST request on a mapping whose overlay is not cleaned up", alreadyOverlaid),
        Scenario("errno: EBUSY base mapping already holds private writes", privateWrites),
        Scenario("errno: ENOENT cleanup of an unknown id, second cleanup", unknownID),
        Scenario("errno: EPERM cleanup from another process (another thread of the creator may)", otherProcess),
        Scenario("errno: ENOTTY unknown ioctl commands", unknownCommand),
        Scenario("errno: ENOMEM 1,000,000 segments in a 6M memory cgroup (segment table charged to the caller)", outOfMemory),
    ] }

    /// The request must fail with `want`; then nothing may have changed.
    static func expectRejected(_ device: OverlayDevice, _ request: RawCreateRequest, _ want: Int32, _ what: String) {
        switch device.create(request) {
        case .success(let id):
            Log.fail("\(what): the request succeeded (id \(id)), expected \(Errno.describe(want))")
            try? device.cleanup(id)
        case .failure(let error):
            expectErrno(error.rawValue, want, what)
        }
    }

    /// After failed requests: `fixture.base` still shows base.bin, and a
    /// correct request on it succeeds, shows the overlay and cleans up.
    static func expectUnchangedAndUsable(_ device: OverlayDevice, _ fixture: SeedFixture, _ what: String) {
        verifyPages(fixture.base, fixture.baseView, label: "\(what): base mapping after the failed request")
        switch device.create(RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: seedSegments)) {
        case .success(let id):
            verifyPages(fixture.base, fixture.seedView,
                        label: "\(what): a correct request afterwards")
            expectErrno(try device.cleanup(id), 0, "\(what): cleanup of the correct request")
        case .failure(let error):
            Log.fail("\(what): a correct request on the same mapping afterwards failed: \(error)")
        }
    }

    static func invalidBase() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let anonymous = try MappedFile.anonymous(pages: 16, fill: 0xAB)
            defer { anonymous.unmap() }
            expectRejected(device, RawCreateRequest(base: anonymous.innerAddress, overlay: fixture.overlay.address, segments: seedSegments),
                           EINVAL, "base in an anonymous mapping")
            let bytes = UnsafeRawBufferPointer(start: anonymous.address, count: anonymous.length)
            expect(bytes.allSatisfy { $0 == 0xAB }, "the anonymous mapping changed")
            expectRejected(device, RawCreateRequest(base: try MappedFile.unmappedAddress(), overlay: fixture.overlay.address, segments: seedSegments),
                           EINVAL, "base at an unmapped address")
            expectRejected(device, RawCreateRequest(base: nil, overlay: fixture.overlay.address, segments: seedSegments),
                           EINVAL, "base NULL")
            let shared = try MappedFile.map(DataFile.base.name, name: "shared mapping of base.bin", flags: MAP_SHARED)
            defer { shared.unmap() }
            expectRejected(device, RawCreateRequest(base: shared.innerAddress, overlay: fixture.overlay.address, segments: seedSegments),
                           EINVAL, "base in a MAP_SHARED mapping")
            verifyPages(shared, fixture.baseView, label: "the MAP_SHARED mapping after the failed request")
            expectUnchangedAndUsable(device, fixture, "after invalid base addresses")
        }
    }

    static func invalidOverlay() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let anonymous = try MappedFile.anonymous(pages: 16, fill: 0xCD)
            defer { anonymous.unmap() }
            for (address, what) in [(UnsafeRawPointer(anonymous.innerAddress), "overlay in an anonymous mapping"),
                                    (UnsafeRawPointer(try MappedFile.unmappedAddress()), "overlay at an unmapped address")] {
                expectRejected(device, RawCreateRequest(base: fixture.base.address, overlay: address, segments: seedSegments), EINVAL, what)
            }
            expectRejected(device, RawCreateRequest(base: fixture.base.address, overlay: nil, segments: seedSegments), EINVAL, "overlay NULL")
            expectUnchangedAndUsable(device, fixture, "after invalid overlay addresses")
        }
    }

    static func reversedSegment() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            // Alone, and after valid segments (the whole request is refused).
            let cases: [([(UInt, UInt)], String)] = [([(5, 4)], "segment {5..4}"),
                                     ([(0, 0), (4, 6), (30, 70), (90, 80)], "valid segments then {90..80}"),
                                     ([(UInt.max, 0)], "segment {ULONG_MAX..0}")]
            for (segments, what) in cases {
                expectRejected(device, RawCreateRequest(baseAddress: fixture.base.address, overlayAddress: fixture.overlay.address,
                                                        segments: RawSegments(pairs: segments.map { (start: $0.0, end: $0.1) })),
                               EINVAL, what)
            }
            expectUnchangedAndUsable(device, fixture, "after end < start")
        }
    }

    static func noSegments() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            expectRejected(device, RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: []),
                           EINVAL, "segments_size 0")
            var request = RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: seedSegments)
            request.segmentsSize = 0
            expectRejected(device, request, EINVAL, "segments_size 0 with a valid segments pointer")
            expectUnchangedAndUsable(device, fixture, "after no segments")
        }
    }

    /// Two pages: the first readable, the second PROT_NONE.
    static func guardedPages() throws -> MappedFile {
        let pages = try MappedFile.anonymous(pages: 2)
        try require(mprotect(pages.address + pageSize, pageSize, PROT_NONE) == 0, "mprotect: \(Errno.current)")
        return pages
    }

    static func unreadableSegments() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let guarded = try guardedPages()
            defer { guarded.unmap() }
            // 10 valid segments at the end of the readable page, 10 more in the PROT_NONE one.
            let straddling = guarded.address + pageSize - 10 * RawSegments.stride
            RawSegments.store((0..<10).map { (start: UInt($0 * 2), end: UInt($0 * 2)) }, at: straddling)
            let cases: [(UnsafeMutableRawPointer?, UInt32, String)] = [
                (nil, 3, "segments NULL"),
                (guarded.address + pageSize, 3, "segments in a PROT_NONE page"),
                (straddling, 20, "segments running into a PROT_NONE page"),
                (try MappedFile.unmappedAddress(), 3, "segments at an unmapped address"),
            ]
            for (pointer, count, what) in cases {
                let result = device.create(RawCreateRequest(baseAddress: fixture.base.address, overlayAddress: fixture.overlay.address,
                                                            segmentsAt: pointer, segmentsSize: count))
                switch result {
                case .success(let id):
                    expectErrno(0, EFAULT, what)
                    try? device.cleanup(id)
                case .failure(let error):
                    expectErrno(error.rawValue, EFAULT, what)
                }
            }
            expectUnchangedAndUsable(device, fixture, "after unreadable segments")
        }
    }

    static func unreadableRequest() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let guarded = try guardedPages()
            defer { guarded.unmap() }
            // A valid request whose last 8 bytes (the segments pointer) lie
            // in the PROT_NONE page; its one segment at the readable page's start.
            RawSegments.store([(start: 0, end: 10)], at: guarded.address)
            let requestSize = RawCreateRequest.size
            let straddling = guarded.address + pageSize - (requestSize - 8)
            RawCreateRequest(baseAddress: fixture.base.address, overlayAddress: fixture.overlay.address,
                             segmentsAt: guarded.address, segmentsSize: 1)
                .store(at: straddling, byteCount: requestSize - 8)
            let create = OverlayDevice.createCommand
            expectErrno(device.ioctl(create, nil), EFAULT, "request NULL")
            expectErrno(device.ioctl(create, guarded.address + pageSize), EFAULT, "request in a PROT_NONE page")
            expectErrno(device.ioctl(create, straddling), EFAULT, "request running into a PROT_NONE page")
            expectErrno(device.ioctl(create, try MappedFile.unmappedAddress()), EFAULT, "request at an unmapped address")
            expectErrno(device.ioctl(OverlayDevice.cleanupCommand, guarded.address + pageSize), EFAULT, "cleanup request in a PROT_NONE page")
            expectErrno(device.ioctl(OverlayDevice.cleanupCommand, nil), EFAULT, "cleanup request NULL")
            expectUnchangedAndUsable(device, fixture, "after unreadable requests")
        }
    }

    /// The request is readable but read-only: the id cannot be written back,
    /// so the request must fail and leave nothing behind.
    static func readOnlyRequest() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let page = try MappedFile.anonymous(pages: 1)
            defer { page.unmap() }
            let segments = RawSegments(pairs: [(start: 0, end: 200)])
            let result = segments.withUnsafeAddress { address in
                RawCreateRequest(baseAddress: fixture.base.address, overlayAddress: fixture.overlay.address,
                                 segmentsAt: address, segmentsSize: 1).store(at: page.address)
                mprotect(page.address, pageSize, PROT_READ)
                return device.ioctl(OverlayDevice.createCommand, page.address)
            }
            expectErrno(result, EFAULT, "request in a read-only page")
            expectUnchangedAndUsable(device, fixture, "after a read-only request")
        }
    }

    /// A sparse scratch file of `pages` pages starting with base.bin's
    /// pages, mapped private: room for segments {2i..2i}. Read-only: a
    /// writable private mapping of 8 GiB would be refused by overcommit.
    static func sparseBase(pages: Int, data: TestData) throws -> (ScratchFile, MappedFile) {
        let file = try ScratchFile.copy(of: DataFile.base.name, bytes: data.base.size, name: "sparse-base")
        do {
            try file.truncate(bytes: pages * pageSize)
            return (file, try MappedFile.map(fd: file.fd, name: "sparse copy of base.bin", protection: PROT_READ))
        } catch {
            file.close()
            throw error
        }
    }

    /// `count` one-page segments {2i..2i}: no two adjacent, so none merge.
    static func spacedSegments(_ count: Int) -> RawSegments {
        RawSegments(pairs: (0..<count).lazy.map { (start: UInt(2 * $0), end: UInt(2 * $0)) })
    }

    static func tooManySegments() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let limit = SegmentList.maximumCount
            var small = RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: seedSegments)
            for size in [UInt32(limit + 1), UInt32.max] {
                small.segmentsSize = size
                expectRejected(device, small, E2BIG, "segments_size \(size) (the array holds \(seedSegments.count))")
            }
            var full = RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: [])
            full.segments = .array(spacedSegments(limit + 1))
            expectRejected(device, full, E2BIG, "\(limit + 1) readable segments")
            expectUnchangedAndUsable(device, fixture, "after E2BIG")

            // Exactly the limit: accepted, on a file long enough for them.
            let (file, sparse) = try sparseBase(pages: 2 * limit, data: fixture.data)
            defer { sparse.unmap(); file.close() }
            full = RawCreateRequest(base: sparse.address, overlay: fixture.overlay.address, segments: [])
            full.segments = .array(spacedSegments(limit))
            switch device.create(full) {
            case .failure(let error):
                Log.fail("\(limit) segments (MEM_OVERLAY_MAX_SEGMENTS): \(error), expected success")
            case .success(let id):
                let shown = sparse.part(0..<fixture.data.pageCount, name: "first pages of the sparse base")
                let evenPages = stride(from: 0, to: fixture.data.pageCount, by: 2).map { $0...$0 }
                verifyPages(shown, fixture.baseView.overlaid(fixture.data.overlay, evenPages), label: "\(limit) segments")
                expectErrno(try device.cleanup(id), 0, "cleanup of the \(limit)-segment overlay")
            }
        }
    }

    static func alreadyOverlaid() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let zebra = try MappedFile.map(DataFile.zebra.name)
            defer { zebra.unmap() }
            let id = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: seedSegments)
            let view = fixture.seedView
            fixture.base.touch(0..<50)
            expectRejected(device, RawCreateRequest(base: fixture.base.innerAddress, overlay: zebra.address, segments: [0...300]),
                           EEXIST, "second request on the overlaid mapping")
            expectRejected(device, RawCreateRequest(base: fixture.base.address, overlay: fixture.overlay.address, segments: seedSegments),
                           EEXIST, "the same request again")
            try SystemFiles.dropCaches()
            verifyPages(fixture.base, view, label: "overlaid mapping after EEXIST")
            expectErrno(try device.cleanup(id), 0, "cleanup after EEXIST")
            // Released: a new request is allowed again.
            switch device.create(RawCreateRequest(base: fixture.base.address, overlay: zebra.address, segments: [300...310])) {
            case .success(let second):
                verifyPages(fixture.base, view.overlaid(fixture.data.zebra, [300...310]), label: "request after cleanup")
                expectErrno(try device.cleanup(second), 0, "cleanup of the request after cleanup")
            case .failure(let error):
                Log.fail("a request after cleanup failed: \(error)")
            }
        }
    }

    static func privateWrites() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            var generator = freshGenerator()
            let bytes = generator.page()
            try require(fixture.base.write(filePage: 5, bytes: bytes) == 0, "writing page 5 faulted")
            var view = fixture.baseView
            view.write(page: 5, bytes: bytes, what: "the data written to page 5")
            let request = RawCreateRequest(base: fixture.base.innerAddress, overlay: fixture.overlay.address, segments: seedSegments)
            expectRejected(device, request, EBUSY, "request on a mapping with a private write")
            verifyPages(fixture.base, view, label: "written mapping after EBUSY")
            expectRejected(device, request, EBUSY, "the same request again")
            verifyPages(fixture.base, view, label: "written mapping after the second EBUSY")
            // Nothing else changed: another, unwritten mapping is accepted.
            let clean = try SeedFixture()
            defer { clean.unmap() }
            expectUnchangedAndUsable(device, clean, "a new mapping after EBUSY")
        }
    }

    static func unknownID() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let id = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: seedSegments)
            let view = fixture.seedView
            var unknown = OverlayID.random()
            if unknown == id { unknown = unknown.flipping(1, inByte: 0) }
            expectErrno(try device.cleanup(unknown), ENOENT, "cleanup of a random id")
            expectErrno(try device.cleanup(OverlayID.zero), ENOENT, "cleanup of the all-zero id")
            let neighbour = id.flipping(0x80, inByte: 15)
            expectErrno(try device.cleanup(neighbour), ENOENT, "cleanup of the id with one bit flipped")
            verifyPages(fixture.base, view, label: "overlaid mapping after ENOENT")
            expectErrno(try device.cleanup(id), 0, "cleanup")
            expectErrno(try device.cleanup(id), ENOENT, "second cleanup")
            verifyPages(fixture.base, view, label: "overlaid mapping after the second cleanup")
        }
    }

    static func otherProcess() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let id = try device.overlay(base: fixture.base, overlay: fixture.overlay, segments: seedSegments)
            let view = fixture.seedView
            let child = ChildProcess.spawn("other process") {
                expectErrno(try device.cleanup(id), EPERM, "other process, inherited descriptor: cleanup")
                let own = try OverlayDevice.openForScenario()
                expectErrno(try own.cleanup(id), EPERM, "other process, own descriptor: cleanup")
            }
            child.expectSuccess("other process")
            verifyPages(fixture.base, view, label: "overlaid mapping after EPERM")
            // Another thread of the creating process may clean up.
            let result = Locked<Int32>(-1)
            try ThreadGroup.run(1) { _ in
                do throws(Errno) {
                    try device.cleanup(id)
                    result.withLock { $0 = 0 }
                } catch {
                    result.withLock { $0 = error.rawValue }
                }
            }
            expectErrno(result.withLock { $0 }, 0, "cleanup from another thread of the creator")
            expectErrno(try device.cleanup(id), ENOENT, "cleanup after the other thread's")
        }
    }

    static func unknownCommand() throws {
        try withDevice { device in
            let fixture = try SeedFixture()
            defer { fixture.unmap() }
            let argument = try MappedFile.anonymous(pages: 1, fill: 0)
            defer { argument.unmap() }
            let pointerSize = MemoryLayout<UnsafeRawPointer>.size
            let commands: [(UInt, String)] = [
                (OverlayDevice.command([.read, .write], type: "s", number: 3, size: pointerSize), "_IOWR('s', 3, ptr)"),
                (OverlayDevice.command([.read, .write], type: "s", number: 0, size: pointerSize), "_IOWR('s', 0, ptr)"),
                (OverlayDevice.command([], type: "x", number: 1, size: 0), "_IO('x', 1)"),
                (OverlayDevice.command(.read, type: "s", number: 1, size: pointerSize), "_IOR('s', 1, ptr)"),
                (OverlayDevice.command(.write, type: "s", number: 2, size: pointerSize), "_IOW('s', 2, ptr)"),
                (0, "0"),
            ]
            try require(commands[0].0 != OverlayDevice.createCommand && commands[0].0 != OverlayDevice.cleanupCommand, "test bug")
            try require(OverlayDevice.command([.read, .write], type: "s", number: 1, size: pointerSize) == OverlayDevice.createCommand,
                        "OverlayDevice.command does not reproduce IOCTL_MEM_OVERLAY_REQ_CMD")
            for (command, what) in commands {
                expectErrno(device.ioctl(command, argument.address), ENOTTY, "ioctl \(what) = 0x\(hex(command))")
            }
            expectUnchangedAndUsable(device, fixture, "after unknown commands")
        }
    }

    /// The module charges its segment table to the caller's memory cgroup:
    /// with memory.max at 6M, 1,000,000 segments (16 MB) fail with ENOMEM.
    /// The segments are written before the fork, outside the group, so the
    /// child's own memory stays small; the same request then succeeds
    /// outside the group.
    static func outOfMemory() throws {
        try withDevice { device in
            let data = try TestData.load()
            let count = 1_000_000
            let segments = spacedSegments(count)
            let (file, sparse) = try sparseBase(pages: 2 * count, data: data)
            defer { sparse.unmap(); file.close() }
            let overlay = try MappedFile.map(DataFile.overlay.name)
            defer { overlay.unmap() }
            let original = try Cgroup.current()
            let group = try Cgroup.create("overlay-tests-enomem-\(getpid())", memoryMax: "6M")
            defer { group.remove() }
            let baseView = ExpectedView(base: data.base)
            let child = ChildProcess.spawn("child in the 6M cgroup") {
                var request = RawCreateRequest(base: sparse.address, overlay: overlay.address, segments: [])
                request.segments = .array(segments)
                try group.join()
                let result = device.create(request)
                try Cgroup.move(toPath: original)
                switch result {
                case .success(let id):
                    Log.fail("\(count) segments in a 6M cgroup succeeded: the segment table is not charged to the caller's cgroup")
                    try? device.cleanup(id)
                    return
                case .failure(let error):
                    expectErrno(error.rawValue, ENOMEM, "\(count) segments in a 6M cgroup")
                }
                let shown = sparse.part(0..<data.pageCount, name: "first pages of the sparse base")
                verifyPages(shown, baseView, label: "base mapping after ENOMEM")
                // Outside the group the same request succeeds.
                switch device.create(request) {
                case .success(let id):
                    let evenPages = stride(from: 0, to: data.pageCount, by: 2).map { $0...$0 }
                    verifyPages(shown, baseView.overlaid(data.overlay, evenPages), label: "the same request outside the cgroup")
                    expectErrno(try device.cleanup(id), 0, "cleanup")
                case .failure(let error):
                    Log.fail("the same request outside the cgroup: \(error)")
                }
            }
            let ok = child.expectSuccess("child in the 6M cgroup", timeout: 300)
            Log.note("memory.events: max \(group.event("max")), oom \(group.event("oom")), oom_kill \(group.event("oom_kill"))")
            if !ok && group.event("oom_kill") > 0 {
                Log.fail("the request invoked the memory cgroup OOM killer instead of failing with ENOMEM")
            }
        }
    }
}
