// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// A seed program that has started: its reporter, the sample files and,
/// when available, the open device.
public struct SeedRun: Sendable {
    /// Whether a program needs `/dev/batch_syscalls`.
    public enum DeviceNeed: Sendable {
        /// Without the device the program skips (exit 77).
        case required
        /// Without the device the program runs its other parts.
        case optional
    }

    /// The program's name, which starts each of its test lines.
    public let program: String
    public let report: TAPReporter
    public let data: SeedData
    /// The open device; nil when it is missing or cannot be opened.
    public let openDevice: OverlayDevice?
    /// Why there is no device (for a program that runs without one).
    public let deviceUnavailableReason: String?

    /// Opens the device and checks the sample files; exits when the program
    /// cannot go on (skip, or missing data).
    static func start(_ program: String, device need: DeviceNeed, files: [DataFile], directory: String) -> SeedRun {
        let report = TAPReporter(prefix: "\(program): ")
        var device: OverlayDevice?
        var unavailable: String?
        switch openDevice() {
        case .success(let opened):
            device = opened
        case .failure(.unavailable(let reason)):
            if need == .required {
                report.skipAll(program, because: reason)
                exit(TAPReporter.skippedExitStatus)
            }
            unavailable = reason
        case .failure(.broken(let reason)):
            report.fail(reason)
            exit(report.finish())
        }
        let data = SeedData(directory: FilePath(directory))
        let missing = files.filter { !data.exists($0) }
        if !missing.isEmpty {
            let names = missing.map(\.name).joined(separator: ", ")
            report.fail("\(names) not found in \(data.directory): run batch-syscalls sample-files (or pass --dir D)")
            exit(report.finish())
        }
        return SeedRun(program: program, report: report, data: data, openDevice: device,
                       deviceUnavailableReason: unavailable)
    }

    /// The device of a program started with `device: .required`.
    public var device: OverlayDevice {
        guard let openDevice else { preconditionFailure("the program was started without the device") }
        return openDevice
    }

    /// Whether the process may drop the page cache (root).
    public var canDropCaches: Bool { PageCache.canDrop }

    /// Writes a summary diagnostic and the plan, and exits: 1 when a check
    /// failed or none ran, 0 otherwise.
    public func finish() -> Never {
        let counts = report.counts
        report.diagnostic("\(program): \(counts.passed) passed, \(counts.failed) failed, \(counts.skipped) skipped")
        exit(report.finish(requireTests: true))
    }

    /// Why the device cannot be used.
    enum DeviceProblem: Error {
        /// Not here or not permitted: the program skips.
        case unavailable(String)
        /// There but failing to open: a failure.
        case broken(String)
    }

    /// Opens `/dev/batch_syscalls`.
    static func openDevice() -> Result<OverlayDevice, DeviceProblem> {
        let path = OverlayDevice.defaultPath
        guard OverlayDevice.exists(at: path) else {
            return .failure(.unavailable("\(path) not found (batch-syscalls.ko is not loaded)"))
        }
        do {
            return .success(try OverlayDevice(path: path))
        } catch {
            let reason = "cannot open \(path): \(error)"
            if error == .permissionDenied || error == .other(.notPermitted) {
                return .failure(.unavailable(reason + "; run as root"))
            }
            return .failure(.broken(reason))
        }
    }
}
