// SPDX-License-Identifier: GPL-2.0-or-later

/// A sleeping lock (a kernel `struct mutex`) that owns the state it guards:
/// the only way to the state is `withLock`, so nothing reads or writes it
/// without the lock (in the spirit of Rust-for-Linux's `Mutex<T>`).
///
/// Held only for in-memory work: never while waiting on user memory or
/// I/O. The state may allocate under it, so it is never a spinlock.
struct KernelMutex<State: ~Copyable>: ~Copyable {
    private let mutex: OpaquePointer
    private let state: UnsafeMutablePointer<State>

    /// A new mutex guarding `initial`. `lockClass` names the lock for
    /// lockdep: locks of one class are never nested in one another.
    init(_ lockClass: LockClass, guarding initial: consuming State) throws(OverlayError) {
        guard let raw = platformAllocate(byteCount: MemoryLayout<State>.stride, chargedToCaller: false) else {
            throw .outOfMemory
        }
        guard let mutex = bs_mutex_create(lockClass.kernelClass) else {
            platformFree(raw)
            throw .outOfMemory
        }
        state = raw.bindMemory(to: State.self, capacity: 1)
        state.initialize(to: initial)
        self.mutex = mutex
    }

    deinit {
        state.deinitialize(count: 1)
        platformFree(UnsafeMutableRawPointer(state))
        bs_mutex_destroy(mutex)
    }

    /// Runs `body` with the lock held and the state lent to it.
    func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        bs_mutex_lock(mutex)
        defer { bs_mutex_unlock(mutex) }
        // SAFETY: `state` is this lock's own allocation, reached only here,
        // with the lock held.
        return try body(&state.pointee)
    }

    /// `withLock` if the lock is free at once, else nil: for reclaim, which
    /// must not wait for a lock whose holder may be allocating memory.
    func withLockIfFree<Result: ~Copyable>(_ body: (inout State) -> Result) -> Result? {
        guard bs_mutex_trylock(mutex) else { return nil }
        defer { bs_mutex_unlock(mutex) }
        // SAFETY: as in withLock.
        return body(&state.pointee)
    }

    /// `withLock`, but a fatal signal while waiting for the lock gives up
    /// with EINTR (for locks a request may wait on for long).
    func withLockKillable<Result: ~Copyable>(
        _ body: (inout State) throws(OverlayError) -> Result
    ) throws(OverlayError) -> Result {
        guard bs_mutex_lock_killable(mutex) == 0 else { throw .kernel(errno: EINTR) }
        defer { bs_mutex_unlock(mutex) }
        // SAFETY: as in withLock.
        return try body(&state.pointee)
    }
}

/// The module's lock classes (for lockdep). Outermost first; a lock is only
/// taken while holding locks of the classes above it. (A struct, not an
/// enum: an enum without payloads brings Hashable, whose hashing needs a
/// random seed the kernel build does not provide.)
struct LockClass {
    fileprivate let kernelClass: bs_lock_class

    /// One address space's create requests (AddressSpaceLock).
    static let createRequests = LockClass(kernelClass: BS_LOCK_CREATE_REQUESTS)
    /// The list of those locks.
    static let createLockList = LockClass(kernelClass: BS_LOCK_CREATE_LOCK_LIST)
    /// The overlay registry (ids).
    static let registry = LockClass(kernelClass: BS_LOCK_REGISTRY)
    /// The index of shareable overlays.
    static let sharing = LockClass(kernelClass: BS_LOCK_SHARING)
    /// An overlay's own pages read ahead of their faults (taken in faults,
    /// innermost: nothing else is locked under it).
    static let ownReadAhead = LockClass(kernelClass: BS_LOCK_OWN_READ_AHEAD)
}
