// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// A scenario's child processes: the body reports through the shared
/// output (``Log``), and the exit status says how it went: 0 no failure
/// recorded, 1 failures, 77 skipped.
extension ChildProcess {
    /// Forks a child that runs `body`; a fork that fails is a failure of
    /// the scenario (the result's id is then -1, which waits fail on).
    static func spawn(_ label: String, _ body: () throws -> Void) -> ChildProcess {
        do {
            return try fork {
                Log.resetAfterFork()
                do {
                    try body()
                } catch let skip as SkipScenario {
                    OutputLine.write("SKIP: \(skip)")
                    return TAPReporter.skippedExitStatus
                } catch {
                    Log.fail("\(label): \(error)")
                }
                return Log.failures == 0 ? 0 : 1
            }
        } catch {
            Log.fail("\(label): fork failed: \(error)")
            return ChildProcess(id: -1)
        }
    }

    /// Waits for the child (killing it after `timeout` seconds) and records
    /// a failure unless it exited with 0.
    @discardableResult
    func expectSuccess(_ label: String, timeout: Double = 120) -> Bool {
        guard id > 0 else { return false }
        let ending = waitOrKill(timeout: timeout)
        return expect(ending.succeeded, "\(label): \(ending)")
    }
}
