// SPDX-License-Identifier: GPL-2.0-or-later

/// Serialises the create requests of one address space (one `mm`: the
/// threads of a process), so that of any number of concurrent requests on
/// one mapping exactly one replaces it and the others see it overlaid.
///
/// A request checks the base mapping under the mmap lock but replaces it
/// with `vm_mmap`, which takes that lock itself: without this lock two
/// requests could both pass the check and both replace the mapping. The
/// lock is per address space, not global, because a request may wait on
/// its own process while holding it (copying the id to user memory served
/// by userfaultfd, a `MAP_LOCKED` mapping reading a FUSE layer): one stuck
/// process never blocks another's requests. Lock order: this lock, the
/// mmap lock, the registry lock.
///
/// The locks live in a list under a spinlock, one node per address space
/// that has a request in flight, freed when its last request leaves.
enum AddressSpaceLock {
    private typealias Node = AddressSpaceLockNode

    /// Runs `body` with the calling process's create lock held. Throws
    /// `EINTR` when a fatal signal arrives while waiting for it.
    static func withLock<Result: ~Copyable>(
        _ body: () throws(OverlayError) -> Result
    ) throws(OverlayError) -> Result {
        let node = try join(bs_current_address_space())
        defer { leave(node) }
        guard bs_mutex_lock_killable(node.pointee.mutex) == 0 else { throw .kernel(errno: EINTR) }
        defer { bs_mutex_unlock(node.pointee.mutex) }
        return try body()
    }

    /// The node of `addressSpace`, with one more user: the existing one, or
    /// a new one (allocated outside the spinlock, dropped if another request
    /// added one meanwhile).
    private static func join(_ addressSpace: UInt64) throws(OverlayError) -> UnsafeMutablePointer<Node> {
        if let node = withList({ findAndJoin(addressSpace) }) { return node }
        guard let mutex = bs_mutex_create() else { throw .outOfMemory }
        guard let raw = platformAllocate(byteCount: MemoryLayout<Node>.stride, chargedToCaller: false) else {
            bs_mutex_destroy(mutex)
            throw .outOfMemory
        }
        let fresh = raw.bindMemory(to: Node.self, capacity: 1)
        fresh.initialize(to: Node(addressSpace: addressSpace, mutex: mutex, users: 1, next: nil))
        let existing = withList { () -> UnsafeMutablePointer<Node>? in
            if let node = findAndJoin(addressSpace) { return node }
            fresh.pointee.next = head
            head = fresh
            return nil
        }
        guard let existing else { return fresh }
        destroy(fresh)
        return existing
    }

    /// Drops one user of `node`; the last one unlinks and frees it.
    private static func leave(_ node: UnsafeMutablePointer<Node>) {
        let unlinked = withList { () -> Bool in
            node.pointee.users -= 1
            guard node.pointee.users == 0 else { return false }
            if head == node {
                head = node.pointee.next
                return true
            }
            var previous = head
            while let current = previous, let next = current.pointee.next {
                if next == node {
                    current.pointee.next = node.pointee.next
                    break
                }
                previous = next
            }
            return true
        }
        if unlinked { destroy(node) }
    }

    private static func findAndJoin(_ addressSpace: UInt64) -> UnsafeMutablePointer<Node>? {
        var cursor = head
        while let node = cursor {
            if node.pointee.addressSpace == addressSpace {
                node.pointee.users += 1
                return node
            }
            cursor = node.pointee.next
        }
        return nil
    }

    private static func destroy(_ node: UnsafeMutablePointer<Node>) {
        bs_mutex_destroy(node.pointee.mutex)
        node.deinitialize(count: 1)
        platformFree(UnsafeMutableRawPointer(node))
    }

    private static func withList<Result>(_ body: () -> Result) -> Result {
        bs_address_space_list_lock()
        defer { bs_address_space_list_unlock() }
        return body()
    }
}

/// One address space's create lock.
private struct AddressSpaceLockNode {
    let addressSpace: UInt64
    let mutex: OpaquePointer
    /// Requests holding or waiting for `mutex`.
    var users: Int
    var next: UnsafeMutablePointer<AddressSpaceLockNode>?
}

/// The nodes of address spaces with requests in flight (under the spinlock).
nonisolated(unsafe) private var head: UnsafeMutablePointer<AddressSpaceLockNode>? = nil
