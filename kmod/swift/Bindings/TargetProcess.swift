// SPDX-License-Identifier: GPL-2.0-or-later

/// The process a v2 request names by pidfd (`MEM_OVERLAY_STACK_PIDFD`),
/// with a hold on its address space, for as long as the request runs.
struct TargetProcess: ~Copyable {
    private let task: OpaquePointer
    private let addressSpace: OpaquePointer
    /// Its thread-group id, as the caller sees it.
    let processID: UInt64

    /// The process `pidfd` refers to: EBADF when it is no pidfd, ESRCH when
    /// the process has exited or has no address space; then `check` decides
    /// whether the caller may write its memory (it throws the refusal).
    init(pidfd: Int32, check: (borrowing TaskCheck) throws(OverlayError) -> Void) throws(OverlayError) {
        var error: Int32 = 0
        guard let task = bs_pidfd_task(pidfd, &error) else {
            throw error == -ESRCH ? .processGone : .notAProcess
        }
        guard let addressSpace = bs_task_mm(task) else {
            bs_task_put(task)
            throw .processGone
        }
        do {
            try check(TaskCheck(task: task))
        } catch {
            bs_mm_put(addressSpace)
            bs_task_put(task)
            throw error
        }
        self.task = task
        self.addressSpace = addressSpace
        processID = bs_task_pid(task)
    }

    deinit {
        bs_mm_put(addressSpace)
        bs_task_put(task)
    }

    /// Runs `work.run()` in a kernel worker whose address space is the
    /// process's (its mappings, its mmap lock, `vm_mmap` into it), and
    /// returns when it is done.
    func run<Work: RemoteWork & ~Copyable>(_ work: inout Work) {
        withUnsafeMutablePointer(to: &work) { pointer in
            var call = RemoteCall(run: { raw in raw.assumingMemoryBound(to: Work.self).pointee.run() },
                                  work: UnsafeMutableRawPointer(pointer))
            withUnsafeMutablePointer(to: &call) { bs_run_in_address_space(addressSpace, $0) }
        }
    }
}

/// The checks a target process must pass before a request touches it.
struct TaskCheck: ~Copyable {
    fileprivate let task: OpaquePointer

    /// Whether the caller has CAP_SYS_PTRACE.
    var callerMayTrace: Bool { bs_caller_may_ptrace() }

    /// Whether the caller's filesystem uid and gid are its real uid and
    /// gid: then the check `requireWritableMemory()` runs with the filesystem ids
    /// is the one `process_vm_writev` runs with the real ids.
    var callerFileIDsAreReal: Bool { bs_caller_file_ids_are_real() }

    /// The kernel's own ptrace-attach check of the caller against the
    /// process (credentials, dumpable, LSMs such as Yama), run as opening
    /// /proc/PID/mem for writing runs it: with the caller's filesystem ids.
    /// Throws `mayNotWriteProcess`, or `processGone` when the process lost
    /// its address space or was reaped meanwhile.
    func requireWritableMemory() throws(OverlayError) {
        switch bs_task_memory_access(task) {
        case 0: return
        case -ESRCH: throw .processGone
        default: throw .mayNotWriteProcess
        }
    }
}

/// Work a request does in another process's address space.
protocol RemoteWork: ~Copyable {
    mutating func run()
}

/// What the worker calls (`bs_swift_remote_call`): a function that knows
/// the work's type, and the work.
struct RemoteCall {
    let run: (UnsafeMutableRawPointer) -> Void
    let work: UnsafeMutableRawPointer
}

/// The process that made a request, held, so that a worker running in
/// another process's address space can write to the caller's memory.
struct CallerTask: ~Copyable {
    private let task: OpaquePointer

    init() { task = bs_current_task() }

    deinit { bs_task_put(task) }

    /// Writes `byteCount` bytes from `source` at `address` of the caller's
    /// memory (EFAULT when it cannot be written).
    func write(from source: UnsafeRawPointer, byteCount: Int, to address: UInt64) throws(OverlayError) {
        guard bs_task_write_memory(task, address, source, byteCount) == 0 else { throw .badAddress }
    }
}
