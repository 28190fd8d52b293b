// SPDX-License-Identifier: GPL-2.0-or-later

/// The module's one registry of live overlay ids, behind a mutex (its
/// operations may allocate). Lock order: the mmap lock, then this one.
nonisolated(unsafe) private var liveOverlays = OverlayRegistry()

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

    /// Number of registered overlays.
    static var count: Int {
        withLock { registry in registry.count }
    }
}
