// SPDX-License-Identifier: GPL-2.0-or-later
import Synchronization

/// A value shared by threads behind a mutex, by reference: what the
/// threads of a ``ThreadGroup`` capture (a `Mutex` itself cannot be
/// captured by their escaping closures).
public final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, the mutex held.
    public func withLock<Result>(_ body: (inout sending Value) -> sending Result) -> sending Result {
        mutex.withLock(body)
    }
}
