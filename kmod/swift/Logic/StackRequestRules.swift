// SPDX-License-Identifier: GPL-2.0-or-later

/// The rules of ABI v2's request (`struct mem_overlay_stack_req` and its
/// `struct mem_overlay_layer` entries), checked before anything changes.
///
/// The request struct is extensible by the rules of openat2 and clone3: a
/// caller built against an older header passes a smaller `size`, a newer
/// one a larger `size` whose unknown tail must be zero. The values mirror
/// the uapi header (ABIConstants.swift checks them when the module loads).
enum StackRequestRules {
    /// `MEM_OVERLAY_STACK_REQ_SIZE_VER0`: the first version's size.
    static let firstVersionSize = 48
    /// `MEM_OVERLAY_STACK_PIDFD`: the base mapping is in another process.
    static let pidfdFlag: UInt32 = 1 << 0
    /// `MEM_OVERLAY_STACK_POPULATE`: the loading set's pages are mapped
    /// before the request returns.
    static let populateFlag: UInt32 = 1 << 1
    /// Every request flag defined.
    static let requestFlags = pidfdFlag | populateFlag
    /// The most a caller's struct may be (as openat2 and clone3 allow).
    static let largestSize = 4096
    /// Where the id lies in the struct (after size, flags, base_addr,
    /// layers_size and layers).
    static let idOffset = 32
    /// `MEM_OVERLAY_MAX_LAYERS`.
    static let maxLayers = 255
    /// `MEM_OVERLAY_LAYER_DATA_EXTENTS`.
    static let dataExtentsFlag: UInt32 = 1 << 0
    /// Every layer flag defined (with `LayerRoles`' two).
    static let layerFlags = dataExtentsFlag | LayerRoles.ownFlag | LayerRoles.sharedFlag

    /// The bytes past what the module knows in a caller's struct of `size`
    /// bytes, which must all be zero (nil when there are none): below the
    /// first version's size is EINVAL, above 4096 bytes E2BIG.
    static func unknownTail(size: UInt32, knownSize: Int) throws(OverlayError) -> Range<Int>? {
        guard Int(size) >= firstVersionSize else { throw .requestTooSmall }
        guard Int(size) <= largestSize else { throw .unknownRequestFields }
        return Int(size) > knownSize ? knownSize..<Int(size) : nil
    }

    /// The request's own fields: only defined flags, and 1 to 255 layers.
    static func check(flags: UInt32, layerCount: UInt64) throws(OverlayError) {
        guard flags & ~requestFlags == 0 else { throw .unknownFlags }
        guard layerCount > 0 else { throw .noLayers }
        guard layerCount <= UInt64(maxLayers) else { throw .tooManyLayers }
    }

    /// The target process's fields: `reserved` is 0, and `pidfd` too unless
    /// the request names a process (EINVAL). Returns whether it does.
    static func namesProcess(flags: UInt32, pidfd: Int32, reserved: UInt32) throws(OverlayError) -> Bool {
        guard reserved == 0 else { throw .unexpectedTargetFields }
        let names = flags & pidfdFlag != 0
        guard names || pidfd == 0 else { throw .unexpectedTargetFields }
        return names
    }

    /// The loading set's fields (version 2): at most as many ranges as a
    /// segment list; `MEM_OVERLAY_STACK_POPULATE` needs some. Returns
    /// whether there is a loading set.
    static func hasLoadingSet(flags: UInt32, count: UInt64) throws(OverlayError) -> Bool {
        guard count <= UInt64(SegmentLimits.maxSegments) else { throw .tooManySegments }
        guard count > 0 || flags & populateFlag == 0 else { throw .populateWithoutLoadingSet }
        return count > 0
    }

    /// How many bytes of a caller's struct of `size` bytes to read (the
    /// rest of what the module knows reads as zero, as for an older caller).
    static func bytesToRead(size: UInt32, knownSize: Int) -> Int { Swift.min(Int(size), knownSize) }

    /// Checks one layer's flags: only defined ones, and not both own and
    /// shared (EINVAL). Returns whether it is laid by its data extents
    /// (else by its segment list).
    static func isLaidByDataExtents(layerFlags: UInt32) throws(OverlayError) -> Bool {
        guard layerFlags & ~StackRequestRules.layerFlags == 0 else { throw .unknownFlags }
        guard layerFlags & LayerRoles.ownFlag == 0 || layerFlags & LayerRoles.sharedFlag == 0 else {
            throw .unknownFlags
        }
        return layerFlags & dataExtentsFlag != 0
    }

    /// A layer's segment list length (checked again, with the others, when
    /// the list is read; this check comes first so that a count too large
    /// for an `Int` is never converted).
    static func check(segmentCount: UInt64) throws(OverlayError) {
        guard segmentCount <= UInt64(SegmentLimits.maxSegments) else { throw .tooManySegments }
    }
}
