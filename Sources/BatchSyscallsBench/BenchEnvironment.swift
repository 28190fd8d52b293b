// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// Where and when the bench ran, for the report's heading.
struct BenchEnvironment: Sendable {
    /// UTC date and time (`2026-11-26 15:04 UTC`).
    var date: String
    /// `uname -r`.
    var kernel: String
    var cpus: Int
    /// MemTotal, MiB.
    var memoryMiB: Int
    var isRoot: Bool
    /// Inside the harness's QEMU guest (vm/run sets `BATCH_SYSCALLS_GUEST`).
    var isGuest: Bool

    static func current() -> BenchEnvironment {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
        let date = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return BenchEnvironment(
            date: date, kernel: BenchSystem.kernelRelease, cpus: BenchSystem.cpuCount,
            memoryMiB: (BenchSystem.memoryInfo()["MemTotal"] ?? 0) / 1024, isRoot: BenchSystem.isRoot,
            isGuest: getenv("BATCH_SYSCALLS_GUEST").map { String(cString: $0) == "1" } ?? false)
    }

    /// One line: date, kernel, machine.
    var summary: String {
        var text = "\(date), Linux \(kernel), \(cpus) CPUs, \(memoryMiB) MiB"
        if isGuest { text += ", QEMU TCG guest (vm/run)" }
        if !isRoot { text += ", not root" }
        return text
    }
}
