// SPDX-License-Identifier: GPL-2.0-or-later

/// The values Logic/ mirrors from the uapi header (it is compiled on the
/// host too, without the header), checked against the header itself: the
/// module refuses to load if they ever disagree.
enum ABIConstants {
    static var match: Bool {
        SegmentLimits.maxSegments == Int(MEM_OVERLAY_MAX_SEGMENTS)
            && StackRequestRules.maxLayers == Int(MEM_OVERLAY_MAX_LAYERS)
            && StackRequestRules.firstVersionSize == Int(MEM_OVERLAY_STACK_REQ_SIZE_VER0)
            && StackRequestRules.dataExtentsFlag == UInt32(MEM_OVERLAY_LAYER_DATA_EXTENTS)
            && LayerRoles.ownFlag == UInt32(MEM_OVERLAY_LAYER_OWN)
            && LayerRoles.sharedFlag == UInt32(MEM_OVERLAY_LAYER_SHARED)
            && StackRequestRules.idOffset == bs_stack_request_id_offset
            && StackRequestRules.pidfdFlag == UInt32(MEM_OVERLAY_STACK_PIDFD)
            && StackRequestRules.populateFlag == UInt32(MEM_OVERLAY_STACK_POPULATE)
            && MemoryLayout<PageRange>.stride == MemoryLayout<mem_overlay_segment_req>.stride
    }
}
