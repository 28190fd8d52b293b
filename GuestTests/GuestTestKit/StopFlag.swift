// SPDX-License-Identifier: GPL-2.0-or-later
import Synchronization

/// A flag threads poll to stop.
public final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}

    /// Whether ``set()`` was called.
    public var isSet: Bool { value.load(ordering: .acquiring) }

    /// Tells the threads to stop.
    public func set() { value.store(true, ordering: .releasing) }
}
