// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// Runs scenarios one by one, each in a process of its own (a process
/// group, so that its descendants can be killed with it) with a timeout,
/// and reports each as one TAP line with what it printed as diagnostics.
struct ScenarioRunner {
    let scenarios: [Scenario]
    let timeout: Double
    /// Diagnostic lines after the TAP header (the stress run's seed).
    var header: [String] = []

    enum Verdict: Equatable {
        case passed
        case failed
        case skipped(String)
    }

    /// Runs all scenarios; returns the exit status (0: all passed or skipped).
    func run() -> CInt {
        let reporter = TAPReporter(header: header)
        TestEnvironment.deviceWasPresent = OverlayDevice.exists()
        if !TestEnvironment.deviceWasPresent {
            reporter.diagnostic("\(OverlayDevice.defaultPath) does not exist: the scenarios skip")
        }
        // Orphans of a scenario's processes come back here to be reaped.
        try? ChildProcess.becomeSubreaper()
        for scenario in scenarios {
            KernelLog.write("batch-syscalls-test: begin \(scenario.name)")
            let stopwatch = Stopwatch()
            let (verdict, diagnostics) = execute(scenario)
            switch verdict {
            case .passed: reporter.pass(scenario.name)
            case .skipped(let reason): reporter.skip(scenario.name, because: reason)
            case .failed: reporter.fail(scenario.name)
            }
            for line in diagnostics { reporter.diagnostic(line) }
            if case .skipped = verdict {} else { reporter.diagnostic("time: \(formatSeconds(stopwatch.elapsedSeconds)) s") }
            KernelLog.write("batch-syscalls-test: end \(scenario.name) \(verdict == .failed ? "not ok" : "ok")")
        }
        return reporter.finish()
    }

    /// Runs one scenario in a child process; returns its verdict and the
    /// lines it printed.
    private func execute(_ scenario: Scenario) -> (Verdict, [String]) {
        let output: EventPipe
        do {
            output = try EventPipe()
        } catch {
            return (.failed, ["pipe: \(error)"])
        }
        let child: ChildProcess
        do {
            child = try ChildProcess.fork(newProcessGroup: true, output: output.writeEnd, closing: [output.readEnd]) {
                Self.runInChild(scenario)
            }
        } catch {
            output.closeBoth()
            return (.failed, ["fork: \(error)"])
        }
        output.closeWrite()
        let (bytes, finished) = child.collect(output.readEnd, timeout: timeout)
        output.closeRead()
        var diagnostics = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        var status = finished
        var stuck = false
        if status == nil {
            diagnostics.append("timed out after \(Int(timeout)) s: SIGKILL")
            child.kill(SIGKILL, wholeGroup: true)
            status = child.wait(timeout: 10)
            if status == nil {
                stuck = true
                diagnostics.append("process \(child.id) still alive 10 s after SIGKILL (D state?)")
                diagnostics += Self.taskReport(child.id)
            }
        }
        diagnostics += reapGroup(child.id)
        guard let status, !stuck else { return (.failed, diagnostics) }
        if status.succeeded && !diagnostics.contains(where: { $0.hasPrefix("stuck:") }) {
            return (.passed, diagnostics)
        }
        if status.exited && status.exitCode == TAPReporter.skippedExitStatus {
            let reason = diagnostics.first(where: { $0.hasPrefix("SKIP: ") }).map { String($0.dropFirst(6)) }
            diagnostics.removeAll(where: { $0.hasPrefix("SKIP: ") })
            return (.skipped(reason ?? "skipped"), diagnostics)
        }
        if !status.succeeded { diagnostics.append("scenario process: \(status)") }
        return (.failed, diagnostics)
    }

    /// The scenario process: runs the body and exits with its verdict.
    private static func runInChild(_ scenario: Scenario) -> CInt {
        Log.resetAfterFork()
        do {
            try scenario.body()
        } catch let skip as SkipScenario {
            if Log.failures == 0 {
                OutputLine.write("SKIP: \(skip)")
                return TAPReporter.skippedExitStatus
            }
            Log.fail("skipped after failures: \(skip)")
        } catch {
            Log.fail("aborted: \(error)")
        }
        return Log.failures == 0 ? 0 : 1
    }

    /// Kills what is left of the scenario's process group and reaps it (this
    /// process is the subreaper). A process that does not die is reported
    /// with its kernel stack: it is stuck in the kernel.
    private func reapGroup(_ group: pid_t) -> [String] {
        kill(-group, SIGKILL)
        let deadline = Stopwatch.nowSeconds() + 10
        while true {
            ChildProcess.reapEnded()
            let alive = Self.processes(inGroup: group)
            if alive.isEmpty { return [] }
            if Stopwatch.nowSeconds() > deadline {
                var report = ["stuck: processes of the scenario still alive 10 s after SIGKILL: \(alive)"]
                for pid in alive { report += Self.taskReport(pid) }
                return report
            }
            Stopwatch.sleep(seconds: 0.05)
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
        try? TextFile.write("/dev/kmsg", line + "\n")
    }
}
