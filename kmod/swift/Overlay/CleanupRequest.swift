// SPDX-License-Identifier: GPL-2.0-or-later

/// IOCTL_MEM_OVERLAY_CLEANUP_CMD: releases an overlay's id. The mapping
/// keeps showing the overlay until it is unmapped; after cleanup a new
/// request may stack another overlay on it.
enum CleanupRequest {
    static func handle(userRequest: UserPointer) throws(OverlayError) {
        var request = mem_overlay_cleanup_req()
        try userRequest.read(into: &request)
        let id = withUnsafeBytes(of: &request.id) { OverlayID(bytes: $0) }
        let requester = CurrentProcess.owner
        try ModuleState.current.pointee.registry.withLock { (registry: inout OverlayRegistry) throws(OverlayError) in
            _ = try registry.remove(id: id, requester: requester)
        }
        Log.debug("overlay id released")
    }
}
