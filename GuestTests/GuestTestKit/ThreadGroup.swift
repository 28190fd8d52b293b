// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import SystemPackage

/// POSIX threads that start together and are joined together: what the
/// multithreaded programs race with.
///
/// Every thread waits at a start gate until all are created, so their first
/// steps overlap; a thread that could not be created cancels the whole
/// group (no body runs), so a body may safely wait for its siblings with
/// ``Member/waitForAll()``.
public enum ThreadGroup {
    /// What a thread's body gets: its index and the group's barrier.
    public struct Member: @unchecked Sendable {
        // @unchecked: the barrier is a pthread object, shared on purpose.

        /// The thread's index, `0..<count`.
        public let index: Int
        /// How many threads the group has.
        public let count: Int
        fileprivate let barrier: UnsafeMutablePointer<pthread_barrier_t>

        /// Waits until every thread of the group has called this too: lines
        /// the threads up again before the next racing step.
        public func waitForAll() {
            pthread_barrier_wait(barrier)
        }
    }

    /// Runs `body` on `count` threads and waits for all of them.
    ///
    /// - Throws: the `Errno` of `pthread_create`; then no body has run.
    public static func run(_ count: Int, _ body: @escaping @Sendable (Member) -> Void) throws(Errno) {
        precondition(count > 0)
        let gate = StartGate()
        let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(count))
        defer {
            pthread_barrier_destroy(barrier)
            barrier.deallocate()
        }
        var threads: [pthread_t] = []
        var failure: Errno?
        for index in 0..<count {
            let member = Member(index: index, count: count, barrier: barrier)
            let start = ThreadStart(body: body, member: member, gate: gate)
            let context = Unmanaged.passRetained(start).toOpaque()
            var thread = pthread_t()
            let result = pthread_create(&thread, nil, { context in
                let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                if start.gate.wait() { start.body(start.member) }
                return nil
            }, context)
            guard result == 0 else {
                Unmanaged<ThreadStart>.fromOpaque(context).release()
                failure = Errno(rawValue: result)
                break
            }
            threads.append(thread)
        }
        gate.open(run: failure == nil)
        for thread in threads {
            pthread_join(thread, nil)
        }
        if let failure { throw failure }
    }
}

/// What a new thread needs, passed through pthread_create's context pointer.
private final class ThreadStart: Sendable {
    let body: @Sendable (ThreadGroup.Member) -> Void
    let member: ThreadGroup.Member
    let gate: StartGate

    init(body: @escaping @Sendable (ThreadGroup.Member) -> Void, member: ThreadGroup.Member, gate: StartGate) {
        self.body = body
        self.member = member
        self.gate = gate
    }
}

/// A gate threads wait at until it opens, learning whether to run.
private final class StartGate: @unchecked Sendable {
    // @unchecked: the state is only touched under the pthread mutex.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var isOpen = false
    private var shouldRun = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Opens the gate for every waiting and future thread.
    func open(run: Bool) {
        pthread_mutex_lock(mutex)
        isOpen = true
        shouldRun = run
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until the gate opens; whether the thread should run its body.
    func wait() -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !isOpen { pthread_cond_wait(condition, mutex) }
        return shouldRun
    }
}
