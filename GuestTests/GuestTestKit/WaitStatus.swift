// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// A wait(2) status, decoded as <sys/wait.h> does.
public struct WaitStatus: Sendable, CustomStringConvertible {
    /// The status as waitpid(2) stored it.
    public let raw: Int32

    public init(raw: Int32) { self.raw = raw }

    /// Whether the process exited (rather than being killed by a signal).
    public var exited: Bool { raw & 0x7f == 0 }
    /// The exit status, when it exited.
    public var exitCode: Int32 { (raw >> 8) & 0xff }
    /// Whether a signal killed it.
    public var signaled: Bool { !exited && raw & 0x7f != 0x7f }
    /// The signal that killed it, when one did.
    public var signal: Int32 { raw & 0x7f }
    /// Whether it exited with status 0.
    public var succeeded: Bool { exited && exitCode == 0 }
    /// Whether it dumped core when it was killed.
    public var coreDumped: Bool { raw & 0x80 != 0 }

    /// "exit status 1", "killed by SIGKILL".
    public var description: String {
        if exited { return "exit status \(exitCode)" }
        if signaled { return "killed by \(signalName(signal))" + (coreDumped ? " (core dumped)" : "") }
        return "wait status 0x\(String(raw, radix: 16))"
    }
}

/// The name of the signals a test meets ("SIGBUS"), else "signal N".
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGBUS: return "SIGBUS"
    case SIGSEGV: return "SIGSEGV"
    case SIGKILL: return "SIGKILL"
    case SIGABRT: return "SIGABRT"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    default: return "signal \(signal)"
    }
}
