// SPDX-License-Identifier: GPL-2.0-or-later
import Synchronization
import SystemPackage

/// An overlay laid over a base mapping by ``OverlayDevice/overlay(base:layer:segments:)``
/// or, a whole chain of layers at once, by ``OverlayDevice/stack(base:layers:)``.
///
/// It keeps the device and the mappings alive. ``remove()`` (or the last
/// reference going away) cleans the id up; the base mapping keeps showing
/// the overlay until it is unmapped, so read it through ``base`` while the
/// overlay lives.
public final class Overlay: Sendable {

    /// The id the module gave the overlay.
    public let id: OverlayID
    /// The base mapping, which now shows the overlay.
    public let base: MappedFile
    /// The mapping of the overlay file; nil for a chain, whose layers were
    /// named by descriptor (the module holds its own references to them).
    public let layer: MappedFile?
    private let device: OverlayDevice
    /// Whether the id was cleaned up.
    private let removed = Mutex(false)

    init(id: OverlayID, device: OverlayDevice, base: MappedFile, layer: MappedFile?) {
        self.id = id
        self.device = device
        self.base = base
        self.layer = layer
    }

    deinit {
        if !removed.withLock({ $0 }) { try? device.cleanup(id) }
    }

    /// Cleans the id up now: the module forgets it, and a new request on the
    /// same base mapping then stacks on this one. Calling it again does
    /// nothing.
    ///
    /// - Throws: the cleanup request's `Errno` (`EPERM` from a child
    ///   process that inherited the overlay).
    public func remove() throws(Errno) {
        try removed.withLock { (done: inout Bool) throws(Errno) in
            guard !done else { return }
            try device.cleanup(id)
            done = true
        }
    }
}
