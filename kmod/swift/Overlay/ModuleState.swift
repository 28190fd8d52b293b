// SPDX-License-Identifier: GPL-2.0-or-later

/// Everything the module keeps between calls, each part inside the lock
/// that guards it. Made when the module loads, before its device exists,
/// and freed when it unloads, after the device and every overlay are gone.
struct ModuleState: ~Copyable {
    /// The registered ids (and the counters the listing shows).
    let registry: KernelMutex<OverlayRegistry>
    /// The overlays requests may share.
    let sharing: KernelMutex<OverlaySharing.State>
    /// One lock per address space with create requests in flight.
    let createLocks: KernelMutex<AddressSpaceLock.List>

    /// The module's state. Set by `load()` before the C glue registers the
    /// device and cleared by `unload()` after it unregistered it, so every
    /// entry point (ioctl, page-cache fill, release) runs while it is set.
    static var current: UnsafeMutablePointer<ModuleState> {
        // SAFETY: see above; written only while no entry point can run.
        moduleState.unsafelyUnwrapped
    }

    /// Makes the module's state; 0 or a negative errno.
    static func load() -> Int32 {
        do throws(OverlayError) {
            let state = ModuleState(
                registry: try KernelMutex(.registry, guarding: OverlayRegistry()),
                sharing: try KernelMutex(.sharing, guarding: OverlaySharing.State()),
                createLocks: try KernelMutex(.createLockList, guarding: AddressSpaceLock.List()))
            moduleState = try KernelBox.store(state, chargedToCaller: false).assumingMemoryBound(to: ModuleState.self)
            return 0
        } catch {
            return Int32(truncatingIfNeeded: error.negativeErrno)
        }
    }

    /// Frees the module's state. The VFS holds the module while any overlay
    /// or attachment exists, so none is left.
    static func unload() {
        guard let state = moduleState else { return }
        let left = state.pointee.registry.withLock { registry in registry.count }
        if left != 0 { Log.error("overlays still registered at exit:", Int64(left)) }
        moduleState = nil
        KernelBox.destroy(state)
    }
}

/// The module's state (see `ModuleState.current`).
nonisolated(unsafe) private var moduleState: UnsafeMutablePointer<ModuleState>? = nil
