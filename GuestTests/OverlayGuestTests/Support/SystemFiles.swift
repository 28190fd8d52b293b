// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SampleFiles
import SystemPackage

/// The page size of this kernel (4096 on x86-64), as the library has it.
let pageSize = MemoryPage.size

/// procfs, sysfs, debugfs and cgroupfs files: small text reads and writes.
enum SystemFiles {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The whole file, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        try? TextFile.read(FilePath(path))
    }

    /// Writes `value` with one write(2), as `echo value > path` does.
    static func write(_ path: String, _ value: String) throws {
        do {
            try TextFile.write(FilePath(path), value)
        } catch {
            throw SysError("write '\(value)' to \(path)", error)
        }
    }

    /// `sync; echo 3 > /proc/sys/vm/drop_caches`: clean page cache is freed,
    /// so the next access reads from disk. Skips the scenario when not allowed.
    static func dropCaches() throws {
        do {
            try PageCache.drop()
        } catch {
            let sysError = SysError("write /proc/sys/vm/drop_caches", error)
            if [EACCES, EPERM, ENOENT].contains(error.rawValue) {
                throw SkipScenario("cannot drop caches: \(sysError)")
            }
            throw sysError
        }
    }

    /// The filesystem types mounted at each mount point (/proc/mounts).
    static func mountType(at mountPoint: String) -> String? {
        guard let mounts = read("/proc/mounts") else { return nil }
        var found: String? = nil
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3 && fields[1] == Substring(mountPoint) {
                found = String(fields[2])  // the last mount on a point is the visible one
            }
        }
        return found
    }

    /// The first mount point of a filesystem type, e.g. "cgroup2".
    static func mountPoint(ofType type: String) -> String? {
        guard let mounts = read("/proc/mounts") else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3 && fields[2] == Substring(type) { return String(fields[1]) }
        }
        return nil
    }

    /// Mounts `type` at `mountPoint` unless something is mounted there already.
    static func ensureMounted(_ type: String, at mountPoint: String) -> Bool {
        if mountType(at: mountPoint) == type { return true }
        if mountType(at: mountPoint) != nil { return false }
        mkdir(mountPoint, 0o755)
        return mount(type, mountPoint, type, 0, nil) == 0
    }
}

/// Lowercase hexadecimal without a prefix (as /proc/self/map_files names ranges).
func hex<T: BinaryInteger>(_ value: T) -> String {
    String(value, radix: 16)
}

/// Formats seconds with one decimal.
func formatSeconds(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
