// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles

/// A process of a scenario that runs step by step: at each
/// `PeerLink.step()` it tells the scenario it got there and waits until the
/// scenario lets it go on, so that the scenario can look at the listing,
/// the stats and the page cache while every peer holds its mappings.
final class Peer {
    let label: String
    let process: ChildProcess
    /// The peer's process id (what the listing shows as its creator).
    var pid: pid_t { process.id }
    private let reports: EventPipe  // peer -> scenario
    private let turns: EventPipe  // scenario -> peer
    /// Finished or killed: its pipes are closed (a `defer` may finish it again).
    private var ended = false

    private init(label: String, process: ChildProcess, reports: EventPipe, turns: EventPipe) {
        self.label = label
        self.process = process
        self.reports = reports
        self.turns = turns
    }

    /// Forks a peer running `body`. Only call while one thread runs.
    static func spawn(_ label: String, _ body: (PeerLink) throws -> Void) throws -> Peer {
        let reports = try EventPipe()
        let turns = try EventPipe()
        let process = ChildProcess.spawn(label) {
            reports.closeRead()
            turns.closeWrite()
            try body(PeerLink(label: label, reports: reports, turns: turns))
        }
        reports.closeWrite()
        turns.closeRead()
        if process.id < 0 { throw TestFailure("\(label): fork failed") }
        return Peer(label: label, process: process, reports: reports, turns: turns)
    }

    /// Waits until the peer has reached its next step.
    func awaitStep(timeout: Double = 120) throws {
        guard reports.receive(timeout: timeout) != nil else {
            throw TestFailure("\(label) ended or stalled before its next step")
        }
    }

    /// Lets the peer go on from the step it waits at.
    func proceed() {
        if !ended { turns.send() }
    }

    /// Lets the peer go on and waits until it exits; records a failure
    /// unless it passed.
    @discardableResult
    func finish(timeout: Double = 120) -> Bool {
        guard !ended else { return true }
        proceed()
        ended = true
        defer { reports.closeRead(); turns.closeWrite() }
        return process.expectSuccess(label, timeout: timeout)
    }

    /// Kills the peer with SIGKILL and reaps it.
    func kill() {
        guard !ended else { return }
        ended = true
        process.kill()
        let status = process.wait()
        expect(status.signaled && status.signal == SIGKILL, "\(label) killed with SIGKILL: \(status)")
        reports.closeRead()
        turns.closeWrite()
    }
}

/// The peer's side of a `Peer`.
struct PeerLink {
    let label: String
    fileprivate let reports: EventPipe
    fileprivate let turns: EventPipe

    /// Tells the scenario this step is reached; waits for its go.
    func step() throws {
        reports.send()
        guard turns.receive(timeout: 300) != nil else { throw TestFailure("\(label): the scenario went away") }
    }
}

/// One create request of a sharing scenario: a new private read-write
/// mapping of a base file with `segments` of a layer file laid over it.
struct SharingRequest {
    let base: MappedFile
    let layer: MappedFile
    let id: OverlayID
    let view: ExpectedView

    init(_ device: OverlayDevice, base basePath: String = DataFile.base.name, baseImage: FileImage,
         layer layerPath: String = DataFile.overlay.name, layerImage: FileImage,
         segments: [ClosedRange<Int>] = seedSegments, modelSegments: [ClosedRange<Int>]? = nil,
         label: String = "request") throws {
        base = try MappedFile.map(basePath, name: "\(label): \(basePath)", protection: PROT_READ | PROT_WRITE)
        layer = try MappedFile.map(layerPath, name: "\(label): \(layerPath)")
        id = try device.overlay(RawCreateRequest(base: base.address, overlay: layer.address, segments: segments),
                                "\(label): \(layerPath) over \(basePath)")
        view = ExpectedView(base: baseImage).overlaid(layerImage, modelSegments ?? segments)
    }

    /// The seed's request: its segments of overlay.bin over base.bin.
    static func seed(_ device: OverlayDevice, _ data: TestData, label: String) throws -> SharingRequest {
        try SharingRequest(device, baseImage: data.base, layerImage: data.overlay, label: label)
    }

    /// The overlay number the listing shows for the request's id.
    func overlayNumber(_ what: String) throws -> Int {
        try entry(what).overlayNumber
    }

    /// The listing's line for the request's id.
    func entry(_ what: String) throws -> LiveOverlay {
        guard let entry = LiveOverlay.entry(for: id) else { throw TestFailure("\(what): id \(id) is not listed") }
        return entry
    }

    func unmap() {
        base.unmap()
        layer.unmap()
    }
}

/// /sys/kernel/debug/batch_syscalls/stats: the module's live overlay
/// inodes, those a request may share, the requests' files and the ids.
struct ModuleStats: Equatable, CustomStringConvertible {
    static let path = "/sys/kernel/debug/batch_syscalls/stats"

    var overlays = 0
    var shareable = 0
    var files = 0
    var ids = 0

    static func read() throws -> ModuleStats {
        guard let text = SystemFiles.read(path) else { throw SkipScenario("no \(path) (debugfs not mounted?)") }
        var stats = ModuleStats()
        var seen = 0
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=")
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            switch parts[0] {
            case "overlays": stats.overlays = value
            case "shareable": stats.shareable = value
            case "files": stats.files = value
            case "ids": stats.ids = value
            default: continue
            }
            seen += 1
        }
        try require(seen == 4, "\(path) reads '\(text)': want overlays= shareable= files= ids=")
        return stats
    }

    /// The stats once they equal `expected`, or the last read after
    /// `timeout` seconds (a file's release and an inode's eviction may
    /// trail the exit of the process that held it).
    static func await(_ expected: ModuleStats, timeout: Double = 5) throws -> ModuleStats {
        let deadline = Stopwatch.nowSeconds() + timeout
        while true {
            let now = try read()
            if now == expected || Stopwatch.nowSeconds() > deadline { return now }
            Stopwatch.sleep(seconds: 0.02)
        }
    }

    /// These stats with the given counts added.
    func adding(overlays: Int = 0, shareable: Int = 0, files: Int = 0, ids: Int = 0) -> ModuleStats {
        ModuleStats(overlays: self.overlays + overlays, shareable: self.shareable + shareable,
                    files: self.files + files, ids: self.ids + ids)
    }

    var description: String { "overlays=\(overlays) shareable=\(shareable) files=\(files) ids=\(ids)" }
}

/// /proc/meminfo's `Cached` (page cache, KiB).
func pageCacheKiB() throws -> Int {
    guard let text = SystemFiles.read("/proc/meminfo") else { throw TestFailure("cannot read /proc/meminfo") }
    for line in text.split(separator: "\n") where line.hasPrefix("Cached:") {
        if let value = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) { return value }
    }
    throw TestFailure("no Cached line in /proc/meminfo")
}

/// The listing's attached count for overlay `number` (from any line that
/// names it), once it is `expected` or after `timeout` seconds.
func attachedCount(ofOverlay number: Int, awaiting expected: Int, timeout: Double = 5) -> Int? {
    let deadline = Stopwatch.nowSeconds() + timeout
    while true {
        let listed = (try? LiveOverlay.all())?.first { $0.overlayNumber == number }?.attachedRequests
        if listed == expected || Stopwatch.nowSeconds() > deadline { return listed }
        Stopwatch.sleep(seconds: 0.02)
    }
}

/// A layer file of a scenario's own in the working directory (the test
/// disk): a copy of a data file, closed after writing, so that nothing
/// holds it open for writing. Removed with `remove()`.
struct NamedLayerFile {
    let path: String

    static func copy(of source: String, name: String) throws -> NamedLayerFile {
        let path = ".overlay-tests-\(getpid())-\(name)"
        let image = try FileImage.load(source)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw SysError("create \(path)") }
        defer { close(fd) }
        for page in 0..<image.pageCount {
            let bytes = image.bytes(ofPage: page)
            let length = min(pageSize, image.size - page * pageSize)
            if bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress!, length, off_t(page * pageSize)) }) != length {
                throw SysError("write \(path)")
            }
        }
        if fsync(fd) != 0 { throw SysError("fsync \(path)") }
        return NamedLayerFile(path: path)
    }

    /// Writes `bytes` (a whole page) at page `page` through a descriptor of
    /// its own, closed again.
    func write(page: Int, bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path) for writing") }
        defer { close(fd) }
        if bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress!, $0.count, off_t(page * pageSize)) }) != bytes.count {
            throw SysError("write page \(page) of \(path)")
        }
    }

    func truncate(pages: Int) throws {
        if Glibc.truncate(path, off_t(pages * pageSize)) != 0 { throw SysError("truncate \(path)") }
    }

    /// Sets the modification time `seconds` ahead of now (the change time
    /// moves too); the contents stay.
    func touchModificationTime(secondsAhead seconds: Int) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var times = [timespec(tv_sec: now.tv_sec + seconds, tv_nsec: 0), timespec(tv_sec: now.tv_sec + seconds, tv_nsec: 0)]
        if utimensat(AT_FDCWD, path, &times, 0) != 0 { throw SysError("utimensat \(path)") }
    }

    func image() throws -> FileImage { try FileImage.load(path, name: path) }

    func remove() { unlink(path) }
}

extension OverlayDevice {
    /// The errno of a create request that should fail (0 if it succeeded:
    /// then its id is cleaned up at once).
    func createErrno(_ request: RawCreateRequest) -> Int32 {
        switch create(request) {
        case .success(let id):
            try? cleanup(id)
            return 0
        case .failure(let error):
            return error.rawValue
        }
    }
}
