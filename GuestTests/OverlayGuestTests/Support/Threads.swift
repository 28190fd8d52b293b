// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import Synchronization

/// Runs `body(index)` on `count` POSIX threads and joins them all. The
/// threads start together (a barrier), so that they race.
func runThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    final class Start {
        let body: (Int) -> Void
        let index: Int
        let barrier: UnsafeMutablePointer<pthread_barrier_t>
        init(_ body: @escaping (Int) -> Void, _ index: Int, _ barrier: UnsafeMutablePointer<pthread_barrier_t>) {
            self.body = body
            self.index = index
            self.barrier = barrier
        }
    }
    let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    pthread_barrier_init(barrier, nil, UInt32(count))
    defer {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let start = Unmanaged.passRetained(Start(body, index, barrier)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            pthread_barrier_wait(start.barrier)
            start.body(start.index)
            return nil
        }, start)
        if result != 0 {
            // Without all threads the barrier never opens: stop here.
            Log.fail("pthread_create: \(Errno(result))")
            _exit(1)
        }
        threads.append(thread)
    }
    for thread in threads {
        pthread_join(thread, nil)
    }
}

/// A flag threads poll to stop.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A value shared by threads, behind a mutex.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}
