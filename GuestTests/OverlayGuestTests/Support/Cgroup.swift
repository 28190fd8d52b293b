// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// A cgroup v2 group with the memory controller, for the tests that need a
/// small memory limit. Created by the scenario process; a child joins it.
struct Cgroup {
    let path: String

    /// The cgroup2 hierarchy's root, mounting it at /sys/fs/cgroup if no
    /// cgroup2 is mounted; skips the scenario without memory control.
    static func root() throws -> String {
        if let mounted = SystemFiles.mountPoint(ofType: "cgroup2") { return mounted }
        if SystemFiles.ensureMounted("cgroup2", at: "/sys/fs/cgroup") { return "/sys/fs/cgroup" }
        throw SkipScenario("no cgroup2 hierarchy (mount: \(Errno.current))")
    }

    /// Creates `<root>/<name>` with memory.max = `memoryMax` (e.g. "32M").
    static func create(_ name: String, memoryMax: String) throws -> Cgroup {
        let root = try root()
        guard let controllers = SystemFiles.read("\(root)/cgroup.controllers"),
              controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("memory")
        else { throw SkipScenario("cgroup2 has no memory controller") }
        let subtree = SystemFiles.read("\(root)/cgroup.subtree_control") ?? ""
        if !subtree.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("memory") {
            do {
                try SystemFiles.write("\(root)/cgroup.subtree_control", "+memory")
            } catch {
                throw SkipScenario("cannot enable the memory controller in \(root): \(error)")
            }
        }
        let path = "\(root)/\(name)"
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SysError("mkdir \(path)") }
        let group = Cgroup(path: path)
        do {
            try SystemFiles.write("\(path)/memory.max", memoryMax)
            if SystemFiles.exists("\(path)/memory.swap.max") { try? SystemFiles.write("\(path)/memory.swap.max", "0") }
        } catch {
            group.remove()
            throw error
        }
        return group
    }

    /// Moves the calling process into the group.
    func join() throws {
        try SystemFiles.write("\(path)/cgroup.procs", String(getpid()))
    }

    /// Moves the calling process back to the cgroup it was in before
    /// (`original`, from `Cgroup.current()`).
    static func move(toPath original: String) throws {
        try SystemFiles.write("\(original)/cgroup.procs", String(getpid()))
    }

    /// The calling process's cgroup directory (cgroup2 line "0::/path").
    static func current() throws -> String {
        let root = try root()
        guard let text = SystemFiles.read("/proc/self/cgroup"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { throw TestFailure("no cgroup2 entry in /proc/self/cgroup") }
        let relative = String(line.dropFirst(3))
        return relative == "/" ? root : root + relative
    }

    /// A memory.events counter ("max", "oom", "oom_kill").
    func event(_ name: String) -> Int {
        counter(in: "memory.events", name)
    }

    /// A memory.stat counter ("workingset_refault_file", "pgmajfault").
    func stat(_ name: String) -> Int {
        counter(in: "memory.stat", name)
    }

    private func counter(in file: String, _ name: String) -> Int {
        for line in (SystemFiles.read("\(path)/\(file)") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 && fields[0] == Substring(name) { return Int(fields[1]) ?? -1 }
        }
        return -1
    }

    /// Removes the group (its processes must have exited and been reaped).
    func remove() {
        for _ in 0..<100 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            Stopwatch.sleep(seconds: 0.05)
        }
        Log.note("could not remove \(path): \(Errno.current)")
    }
}
