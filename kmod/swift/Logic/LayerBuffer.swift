// SPDX-License-Identifier: GPL-2.0-or-later

/// Up to `capacity` owned values in order, in memory from
/// `platformAllocate` (charged to the caller: a request decides how many).
/// The layers of a stack while it is composed, and of an overlay.
struct LayerBuffer<Element: ~Copyable>: ~Copyable {
    private let storage: UnsafeMutablePointer<Element>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) throws(OverlayError) {
        let (bytes, overflow) = Swift.max(capacity, 1).multipliedReportingOverflow(
            by: MemoryLayout<Element>.stride)
        guard !overflow, let raw = platformAllocate(byteCount: bytes, chargedToCaller: true) else {
            throw .outOfMemory
        }
        storage = raw.bindMemory(to: Element.self, capacity: Swift.max(capacity, 1))
        self.capacity = capacity
    }

    deinit {
        storage.deinitialize(count: count)
        platformFree(UnsafeMutableRawPointer(storage))
    }

    var isFull: Bool { count == capacity }

    /// Adds `element` at the end; there must be room.
    mutating func append(_ element: consuming Element) {
        precondition(count < capacity)
        (storage + count).initialize(to: element)
        count += 1
    }

    /// Calls `body` with element `index`, borrowed.
    func withElement<Result: ~Copyable, Failure: Error>(
        _ index: Int, _ body: (borrowing Element) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(index >= 0 && index < count)
        return try body(storage[index])
    }

    /// Moves every element out, in order, to `body` (with its index),
    /// leaving the buffer empty.
    mutating func drain(_ body: (Int, consuming Element) -> Void) {
        let moving = count
        count = 0
        for index in 0..<moving { body(index, (storage + index).move()) }
    }
}
