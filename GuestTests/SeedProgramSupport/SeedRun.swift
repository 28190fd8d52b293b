// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// A seed program that has started: its options, its report, the data
/// files and, when available, the open device.
public struct SeedRun: Sendable {
    public let options: SeedOptions
    public let report: CheckReport
    public let data: SeedData
    /// The open device; nil when it is missing or cannot be opened.
    public let openDevice: OverlayDevice?
    /// Why there is no device (for a program that runs without one).
    public let deviceUnavailableReason: String?

    /// The device of a program started with `device: .required`.
    public var device: OverlayDevice {
        guard let openDevice else { preconditionFailure("the program was started without the device") }
        return openDevice
    }

    /// Whether the process may drop the page cache (root).
    public var canDropCaches: Bool { PageCache.canDrop }

    /// Writes the summary line and exits (0 or 1).
    public func finish() -> Never {
        report.finish()
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
