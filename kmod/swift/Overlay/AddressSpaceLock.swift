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
/// process never blocks another's requests. Lock order: this lock, the mmap
/// lock, the registry lock.
///
/// The locks live in a list, one node per address space that has a request
/// in flight, freed when its last request leaves.
enum AddressSpaceLock {
    /// What the list lock guards: the nodes of the address spaces with
    /// requests in flight.
    struct List: ~Copyable {
        fileprivate var head: UnsafeMutablePointer<Node>? = nil
    }

    /// One address space's create lock.
    fileprivate struct Node: ~Copyable {
        let addressSpace: UInt64
        let lock: KernelMutex<Void>
        /// Requests holding or waiting for `lock` (under the list lock).
        var users = 1
        var next: UnsafeMutablePointer<Node>? = nil
    }

    /// Runs `body` with the calling process's create lock held. Throws
    /// `EINTR` when a fatal signal arrives while waiting for it.
    static func withLock<Result: ~Copyable>(
        _ body: () throws(OverlayError) -> Result
    ) throws(OverlayError) -> Result {
        let node = try join(CurrentAddressSpace.key)
        defer { leave(node) }
        return try node.pointee.lock.withLockKillable { (_: inout Void) throws(OverlayError) -> Result in
            try body()
        }
    }

    /// The node of `addressSpace`, with one more user: the existing one, or
    /// a new one.
    private static func join(_ addressSpace: UInt64) throws(OverlayError) -> UnsafeMutablePointer<Node> {
        try ModuleState.current.pointee.createLocks.withLock {
            (list: inout List) throws(OverlayError) -> UnsafeMutablePointer<Node> in
            var cursor = list.head
            while let node = cursor {
                if node.pointee.addressSpace == addressSpace {
                    node.pointee.users += 1
                    return node
                }
                cursor = node.pointee.next
            }
            let node = Node(addressSpace: addressSpace, lock: try KernelMutex(.createRequests, guarding: ()),
                            next: list.head)
            let stored = try KernelBox.store(node, chargedToCaller: false).assumingMemoryBound(to: Node.self)
            list.head = stored
            return stored
        }
    }

    /// Drops one user of `node`; the last one unlinks and frees it.
    private static func leave(_ node: UnsafeMutablePointer<Node>) {
        let unlinked = ModuleState.current.pointee.createLocks.withLock { (list: inout List) -> Bool in
            node.pointee.users -= 1
            guard node.pointee.users == 0 else { return false }
            if list.head == node {
                list.head = node.pointee.next
                return true
            }
            var previous = list.head
            while let current = previous, let next = current.pointee.next {
                if next == node {
                    current.pointee.next = node.pointee.next
                    break
                }
                previous = next
            }
            return true
        }
        if unlinked { KernelBox.destroy(node) }
    }
}
