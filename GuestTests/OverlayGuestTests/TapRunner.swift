// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestSupport
import Glibc
import GuestTestSupport
import MemoryOverlay
import MemoryOverlayTesting
import SystemPackage

/// Runs scenarios one by one, each in a forked process with a timeout, and
/// prints TAP version 13.
struct TapRunner {
    static let skipExitCode: Int32 = 77

    let scenarios: [Scenario]
    let timeout: Double
    /// Diagnostic lines printed after the TAP header (the stress run's seed).
    var header: [String] = []

    enum Verdict: Equatable {
        case passed
        case failed
        case skipped(String)
    }

    /// Runs all scenarios; returns the exit status (0: all passed or skipped).
    func run() -> Int32 {
        OutputLine.write("TAP version 13")
        for line in header { OutputLine.write("# " + line) }
        TestEnvironment.deviceWasPresent = OverlayDevice.exists()
        if !TestEnvironment.deviceWasPresent {
            OutputLine.write("# \(OverlayDevice.defaultPath) does not exist: the scenarios skip")
        }
        // Orphans of a scenario's processes come back here to be reaped.
        _ = batch_syscalls_set_child_subreaper()
        var failures = 0
        for (index, scenario) in scenarios.enumerated() {
            KernelLog.write("batch-syscalls-test: begin \(scenario.name)")
            let started = monotonicSeconds()
            let (verdict, diagnostics) = execute(scenario)
            let seconds = monotonicSeconds() - started
            let number = index + 1
            switch verdict {
            case .passed:
                OutputLine.write("ok \(number) - \(scenario.name)")
            case .skipped(let reason):
                OutputLine.write("ok \(number) - \(scenario.name) # SKIP \(reason)")
            case .failed:
                failures += 1
                OutputLine.write("not ok \(number) - \(scenario.name)")
            }
            for line in diagnostics { OutputLine.write("# " + line) }
            if case .skipped = verdict {} else { OutputLine.write("# time: \(formatSeconds(seconds)) s") }
            KernelLog.write("batch-syscalls-test: end \(scenario.name) \(verdict == .failed ? "not ok" : "ok")")
        }
        OutputLine.write("1..\(scenarios.count)")
        return failures == 0 ? 0 : 1
    }

    /// Runs one scenario in a child process; returns its verdict and the
    /// lines it printed.
    private func execute(_ scenario: Scenario) -> (Verdict, [String]) {
        fflush(nil)
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { return (.failed, ["pipe: \(Errno.current)"]) }
        let pid = fork()
        if pid < 0 { return (.failed, ["fork: \(Errno.current)"]) }
        if pid == 0 {
            setpgid(0, 0)
            dup2(fds[1], 1)
            dup2(fds[1], 2)
            close(fds[0])
            close(fds[1])
            TapRunner.runInChild(scenario)
        }
        setpgid(pid, pid)
        close(fds[1])
        let output = fds[0]
        _ = fcntl(output, F_SETFL, O_NONBLOCK)
        var collected: [UInt8] = []
        var diagnostics: [String] = []
        let deadline = monotonicSeconds() + timeout
        var status: WaitStatus? = nil
        var stuck = false
        while status == nil {
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 100)
            drain(output, into: &collected)
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = WaitStatus(raw: raw)
                break
            }
            if monotonicSeconds() > deadline {
                diagnostics.append("timed out after \(Int(timeout)) s: SIGKILL")
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                if let reaped = ChildProcess.wait(pid, timeout: 10) {
                    status = reaped
                } else {
                    stuck = true
                    diagnostics.append("process \(pid) still alive 10 s after SIGKILL (D state?)")
                    diagnostics += TapRunner.taskReport(pid)
                }
                break
            }
        }
        drain(output, into: &collected)
        close(output)
        diagnostics = TapRunner.lines(collected) + diagnostics
        diagnostics += reapGroup(pid)
        var verdict: Verdict = .failed
        if let status, !stuck {
            if status.succeeded && !diagnostics.contains(where: { $0.hasPrefix("stuck:") }) {
                verdict = .passed
            } else if status.exited && status.exitCode == TapRunner.skipExitCode {
                let reason = diagnostics.first(where: { $0.hasPrefix("SKIP: ") }).map { String($0.dropFirst(6)) }
                verdict = .skipped(reason ?? "skipped")
                diagnostics.removeAll(where: { $0.hasPrefix("SKIP: ") })
            } else if !status.succeeded {
                diagnostics.append("scenario process: \(status)")
            }
        }
        return (verdict, diagnostics)
    }

    /// The scenario process: runs the body and exits with its verdict.
    private static func runInChild(_ scenario: Scenario) -> Never {
        Log.resetAfterFork()
        do {
            try scenario.body()
        } catch let skip as SkipScenario {
            if Log.failures == 0 {
                OutputLine.write("SKIP: \(skip)")
                _exit(skipExitCode)
            }
            Log.fail("skipped after failures: \(skip)")
        } catch {
            Log.fail("aborted: \(error)")
        }
        _exit(Log.failures == 0 ? 0 : 1)
    }

    private func drain(_ fd: Int32, into collected: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { return }
            if collected.count < 1 << 20 { collected += buffer[0..<n] }
        }
    }

    private static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Kills what is left of the scenario's process group and reaps it (this
    /// process is the subreaper). A process that does not die is reported
    /// with its kernel stack: it is stuck in the kernel.
    private func reapGroup(_ group: pid_t) -> [String] {
        kill(-group, SIGKILL)
        let deadline = monotonicSeconds() + 10
        while true {
            var raw: Int32 = 0
            while waitpid(-1, &raw, WNOHANG) > 0 {}
            let alive = TapRunner.processes(inGroup: group)
            if alive.isEmpty { return [] }
            if monotonicSeconds() > deadline {
                var report = ["stuck: processes of the scenario still alive 10 s after SIGKILL: \(alive)"]
                for pid in alive { report += TapRunner.taskReport(pid) }
                return report
            }
            sleepSeconds(0.05)
        }
    }

    /// Live (not zombie) processes whose process group is `group`.
    static func processes(inGroup group: pid_t) -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var found: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let pid = pid_t(name), let stat = SystemFiles.read("/proc/\(pid)/stat") else { continue }
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, let pgrp = pid_t(fields[2]), pgrp == group, fields[0] != "Z", fields[0] != "X" {
                found.append(pid)
            }
        }
        return found
    }

    /// State, wchan and kernel stack of a task, for a stuck-task report.
    static func taskReport(_ pid: pid_t) -> [String] {
        var report: [String] = []
        let state = (SystemFiles.read("/proc/\(pid)/status") ?? "").split(separator: "\n")
            .first(where: { $0.hasPrefix("State:") }).map(String.init) ?? "State: unknown"
        report.append("pid \(pid) \(state)")
        report.append("pid \(pid) wchan: \(SystemFiles.read("/proc/\(pid)/wchan") ?? "(unreadable)")")
        let stack = SystemFiles.read("/proc/\(pid)/stack") ?? "(unreadable)"
        report.append("pid \(pid) stack:")
        report += stack.split(separator: "\n").map { "  " + $0 }
        return report
    }
}

/// /dev/kmsg: marks in the kernel log, so that console output can be
/// attributed to a scenario.
enum KernelLog {
    static func write(_ line: String) {
        let fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
        if fd < 0 { return }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
    }
}
