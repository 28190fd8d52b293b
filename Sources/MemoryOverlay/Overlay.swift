// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// An overlay laid over a base mapping by ``OverlayDevice/overlay(base:layer:segments:)``
/// or, a whole chain of layers at once, by ``OverlayDevice/stack(base:layers:loadingSet:populate:)``.
///
/// It owns the overlay's id: one value, never copied, so the id is
/// cleaned up exactly once. ``remove()`` consumes the overlay and cleans
/// the id up, reporting a refusal; letting the overlay go cleans it up
/// too, silently. Either way the base mapping keeps showing the overlay
/// until it is unmapped, so read it through ``base`` (which the overlay
/// keeps alive) while you need it.
public struct Overlay: ~Copyable, Sendable {
    /// The id the module gave the overlay.
    public let id: OverlayID
    /// The base mapping, which now shows the overlay.
    public let base: MappedFile
    /// The mapping of the overlay file; nil for a chain, whose layers were
    /// named by descriptor (the module holds its own references to them).
    public let layer: MappedFile?
    private let device: OverlayDevice
    /// Set by ``remove()``, so that the deinitialiser leaves the id alone.
    private var removed = false

    init(id: OverlayID, device: OverlayDevice, base: MappedFile, layer: MappedFile?) {
        self.id = id
        self.device = device
        self.base = base
        self.layer = layer
    }

    deinit {
        if !removed { try? device.sendCleanup(id) }
    }

    /// Cleans the id up now: the module forgets it, and a new request on the
    /// same base mapping then stacks on this one. The overlay is gone
    /// afterwards whether the cleanup succeeded or not.
    ///
    /// - Throws: ``OverlayError/notPermitted`` from a child process that
    ///   inherited the overlay, ``OverlayError/unknownID`` when the id was
    ///   cleaned up already.
    public consuming func remove() throws(OverlayError) {
        removed = true
        try device.sendCleanup(id)
    }
}
