// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// What the fuzzer's threads (``FuzzThread``, ``ArenaMutator``) aim at
/// and record into, the same for all of them.
struct FuzzTargets {
    let device: OverlayDevice
    let files: FuzzFiles
    let arena: FuzzArena
    let ids: IDLedger
    let tally: Tally
}
