// SPDX-License-Identifier: GPL-2.0-or-later

/// The module's one registry of live overlay ids, behind a mutex (its
/// operations may allocate). It is held only for in-memory work, never
/// while waiting on user memory or I/O. Lock order: the mmap lock, then
/// this one.
nonisolated(unsafe) private var liveOverlays = OverlayRegistry()
/// The next overlay's listing number (under the registry lock).
nonisolated(unsafe) private var lastSerial: UInt64 = 0
/// Create requests' files alive (under the registry lock).
nonisolated(unsafe) private var openFiles = 0

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

    /// Frees the registry's storage at module exit (empty by then): a
    /// global is never destroyed, so its buffer would outlive the module
    /// (kmemleak found it after a reload).
    static func releaseStorage() {
        withLock { registry in registry = OverlayRegistry() }
    }

    /// Create requests' files alive, cleaned up or not (call under the lock).
    static var liveFiles: Int { openFiles }

    /// Counts a create request's file opened (+1) or released (-1).
    static func countFile(_ change: Int) {
        withLock { _ in openFiles += change }
    }

    /// A number for a new overlay, unique while the module is loaded.
    static func nextSerial() -> UInt64 {
        withLock { _ in
            lastSerial += 1
            return lastSerial
        }
    }
}
