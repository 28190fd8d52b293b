// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// A process's memory as /proc/PID/smaps_rollup sums it over all its
/// mappings, in KiB.
struct BenchProcessMemory: Sendable {
    /// Resident pages mapped by the process (file and anonymous).
    var rss = 0
    /// Its proportional share: each page divided by the number of processes
    /// mapping it, so that the Pss of all processes adds up to the memory
    /// they use together.
    var pss = 0
    /// Anonymous pages (private copies, userfaultfd and merge memory).
    var anonymous = 0

    /// The rollup of process `pid` (this process: nil).
    ///
    /// - Returns: nil when the file cannot be read (a process that exited,
    ///   or a kernel before 4.14).
    static func of(_ pid: pid_t? = nil) -> BenchProcessMemory? {
        let path = pid.map { "/proc/\($0)/smaps_rollup" } ?? "/proc/self/smaps_rollup"
        guard let text = try? TextFile.read(FilePath(path)) else { return nil }
        let values = BenchKeyValues.parse(text)
        guard let rss = values["Rss"] else { return nil }
        return BenchProcessMemory(rss: rss, pss: values["Pss"] ?? 0, anonymous: values["Anonymous"] ?? 0)
    }

    /// The number of this process's VMAs that overlap `start ..< start +
    /// length`, counted from /proc/self/maps (read in chunks: with a
    /// million VMAs the file is some 100 MB of text).
    static func vmaCount(overlapping start: UnsafeRawPointer, length: Int) -> Int? {
        let descriptor = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let low = UInt(bitPattern: start)
        let high = low + UInt(length)
        var count = 0
        var line: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { chunk.deallocate() }
        func countLine() {
            // "start-end perms offset dev inode path": two hex numbers.
            guard let dash = line.firstIndex(of: UInt8(ascii: "-")),
                  let space = line.firstIndex(of: UInt8(ascii: " ")), dash < space,
                  let first = UInt(benchHex: line[..<dash]),
                  let last = UInt(benchHex: line[(dash + 1)..<space])
            else { return }
            if first < high && last > low { count += 1 }
        }
        while true {
            let read = Glibc.read(descriptor, chunk.baseAddress, chunk.count)
            if read < 0 && errno == EINTR { continue }
            guard read >= 0 else { return nil }
            if read == 0 { break }
            for byte in chunk[0..<read] {
                if byte == UInt8(ascii: "\n") {
                    countLine()
                    line.removeAll(keepingCapacity: true)
                } else if line.count < 64 {
                    // The addresses come first; the rest of the line is not needed.
                    line.append(byte)
                }
            }
        }
        if !line.isEmpty { countLine() }
        return count
    }
}

extension UInt {
    /// A number from lowercase or uppercase hex digits (ASCII).
    init?(benchHex digits: some Collection<UInt8>) {
        guard !digits.isEmpty else { return nil }
        var value: UInt = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt(nibble)
        }
        self = value
    }
}
