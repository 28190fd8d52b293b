// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import SampleFiles

/// The address range the fuzzer's mappings live in: slots of `slotPages`
/// pages that mutator threads map files and anonymous memory into,
/// munmap, mprotect, mremap and madvise, while fuzzing threads aim
/// requests at them.
///
/// Mapping over a range with MAP_FIXED is only safe where nothing else of
/// the process lives, and a create request replaces its base mapping with
/// MAP_FIXED too (possibly after a mutator unmapped it: see docs/abi.md,
/// "Under concurrency"). So the arena sits far below where the kernel
/// places mmap()s and the heap (at 64 GiB), and every slot is kept covered
/// by mappings of the arena's own: a hole a mutator makes is filled again
/// at once with MAP_FIXED_NOREPLACE (a slot whose hole something else took
/// is left alone from then on). A slot's mutations hold its lock; the
/// requests aimed at it do not.
final class FuzzArena: @unchecked Sendable {
    static let preferredAddress = UInt(0x10_0000_0000)
    static let mapFixedNoReplace: Int32 = 0x100000

    let base: UnsafeMutableRawPointer
    let slotCount: Int
    let slotPages: Int
    /// Bytes reserved: the slots, then a guard that stays PROT_NONE.
    let length: Int
    private let slots: [Locked<Bool>]  // whether the slot is still the arena's

    var slotLength: Int { slotPages * pageSize }
    var guardAddress: UnsafeMutableRawPointer { base + slotCount * slotLength }

    init(slotCount: Int, slotPages: Int) throws {
        self.slotCount = slotCount
        self.slotPages = slotPages
        length = (slotCount * slotPages + 16) * pageSize
        var placed: UnsafeMutableRawPointer? = nil
        for attempt in 0..<16 {
            let hint = UnsafeMutableRawPointer(bitPattern: FuzzArena.preferredAddress + UInt(attempt) << 32)
            let address = mmap(hint, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | FuzzArena.mapFixedNoReplace, -1, 0)
            if let address, address != MAP_FAILED {
                placed = address
                break
            }
        }
        guard let placed else { throw SysError("reserve the fuzz arena") }
        base = placed
        slots = (0..<slotCount).map { _ in Locked(true) }
    }

    /// Unmaps the whole arena (the end of the part).
    func release() {
        munmap(base, length)
    }

    func slotAddress(_ slot: Int) -> UnsafeMutableRawPointer { base + slot * slotLength }

    /// Runs `body` with slot `slot` locked, if it is still the arena's;
    /// `body` returns false when it lost the slot (a hole it made was
    /// taken by something else), and the slot is left alone from then on.
    func mutate(_ slot: Int, _ body: (UnsafeMutableRawPointer) -> Bool) {
        slots[slot].withLock { owned in
            guard owned else { return }
            owned = body(slotAddress(slot))
        }
    }

    /// Slots given up so far.
    var lostSlots: Int { slots.filter { !$0.withLock { $0 } }.count }

    /// Fills the hole [address, address + length) inside a locked slot
    /// with a PROT_NONE reservation; false when something else took it.
    func refill(_ address: UnsafeMutableRawPointer, _ length: Int) -> Bool {
        let result = mmap(address, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | FuzzArena.mapFixedNoReplace, -1, 0)
        if result == address { return true }
        if let result, result != MAP_FAILED { munmap(result, length) }
        return false
    }
}
