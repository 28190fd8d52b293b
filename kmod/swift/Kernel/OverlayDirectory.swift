// SPDX-License-Identifier: GPL-2.0-or-later

/// The module's one registry of live overlay ids, behind a mutex (its
/// operations may allocate). It is held only for in-memory work, never
/// while waiting on user memory or I/O. Lock order: the mmap lock, then
/// this one.
nonisolated(unsafe) private var liveOverlays = OverlayRegistry()
/// The next overlay's listing number (under the registry lock).
nonisolated(unsafe) private var lastSerial: UInt64 = 0

enum OverlayDirectory {
    /// Runs `body` with the registry locked.
    @discardableResult
    static func withLock<Result, Failure: Error>(
        _ body: (inout OverlayRegistry) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        bs_registry_lock()
        defer { bs_registry_unlock() }
        return try body(&liveOverlays)
    }

    /// Number of registered ids.
    static var count: Int {
        withLock { registry in registry.count }
    }

    /// A number for a new overlay, unique while the module is loaded.
    static func nextSerial() -> UInt64 {
        withLock { _ in
            lastSerial += 1
            return lastSerial
        }
    }
}
