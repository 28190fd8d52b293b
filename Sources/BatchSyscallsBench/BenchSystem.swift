// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// What the bench reads and changes of the system: procfs files, caches,
/// limits.
enum BenchSystem {
    /// Whether this process runs as root (dropping caches and raising
    /// `vm.max_map_count` need it).
    static var isRoot: Bool { geteuid() == 0 }

    /// `uname -r`.
    static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Online CPUs.
    static var cpuCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Waits (at most `limit` nanoseconds) until the kernel's unreclaimable
    /// slab memory stops shrinking: a child that exits with 100,000 VMAs
    /// leaves their freeing to RCU callbacks, which run for seconds in an
    /// emulated guest and would slow whatever runs next on the same CPU.
    static func settle(limit: UInt64 = 3_000_000_000) {
        let deadline = BenchClock.now() + limit
        var previous = memoryInfo()["SUnreclaim"] ?? 0
        while BenchClock.now() < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
            let current = memoryInfo()["SUnreclaim"] ?? 0
            // Within 256 KiB: what a quiet system drifts by.
            if current + 256 >= previous { return }
            previous = current
        }
    }

    /// `vm.max_map_count`: the most VMAs a process may have.
    static var maxMapCount: Int? {
        (try? readText("/proc/sys/vm/max_map_count")).flatMap { Int($0.benchTrimmed) }
    }

    /// Sets `vm.max_map_count` (root only).
    static func setMaxMapCount(_ count: Int) throws(Errno) {
        try writeText("/proc/sys/vm/max_map_count", "\(count)")
    }

    /// Fields of /proc/meminfo in KiB (`Cached`, `AnonPages`, `MemTotal`, ...).
    static func memoryInfo() -> [String: Int] {
        guard let text = try? readText("/proc/meminfo") else { return [:] }
        return BenchKeyValues.parse(text)
    }

    /// Reads a whole small file (procfs files report size 0: read until the
    /// end).
    static func readText(_ path: String) throws(Errno) -> String {
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
            return try descriptor.closeAfter {
                var bytes: [UInt8] = []
                let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
                defer { chunk.deallocate() }
                while true {
                    let count = try descriptor.read(into: chunk)
                    if count == 0 { break }
                    bytes += chunk[0..<count]
                }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    /// Writes `value` with one write(2), as `echo value > path` does.
    static func writeText(_ path: String, _ value: String) throws(Errno) {
        try Errno.rethrowing {
            let descriptor = try FileDescriptor.open(FilePath(path), .writeOnly, options: .closeOnExec)
            try descriptor.closeAfter {
                _ = try descriptor.writeAll(Array(value.utf8))
            }
        }
    }
}

/// Parses `Key:   value kB` lines (/proc/meminfo, smaps_rollup, status).
enum BenchKeyValues {
    /// The first number after each `Key:`; lines without one are skipped.
    static func parse(_ text: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, let number = Int(first) { values[key] = number }
        }
        return values
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    var benchTrimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

/// A pipe whose ends close on exec (`pipe2(O_CLOEXEC)`, which glibc
/// declares only with _GNU_SOURCE).
///
/// - Returns: the read and write ends, or nil with errno set.
func benchPipe() -> (read: CInt, write: CInt)? {
    var fds: [CInt] = [-1, -1]
    guard pipe(&fds) == 0 else { return nil }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}

/// Writes a line to standard error (unbuffered, so a forked child never
/// repeats it).
func benchPrintError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let count = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress! + done, $0.count - done) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { return }
        done += count
    }
}
