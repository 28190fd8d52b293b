// SPDX-License-Identifier: GPL-2.0-or-later

/// An overlay's layers and table while a create request composes them:
/// what the base mapping shows, then each of the request's layers laid on
/// top, flattened into one table over plain files.
///
/// A mapping that already shows an overlay contributes that overlay's
/// layers and table; a layer that is itself an overlay file contributes its
/// own layers and table, cut to the pages it is asked to serve. So every
/// overlay reads plain files only: no read goes through a second overlay's
/// page cache (no recursion on the kernel stack, no nested page-cache
/// locks, no page cached twice), however the stack was built.
struct LayerStack: ~Copyable {
    private var layers: LayerList
    private var table: SegmentTable

    /// The stack `file` shows: an overlay file's layers and table, or the
    /// file alone.
    init(showing file: OpaquePointer) throws(OverlayError) {
        var layers = try LayerList(capacity: Layers.maximumCount)
        let table: SegmentTable
        if let shown = OverlayHandle(servedBy: file)?.pointer {
            for layer in 0..<shown.pointee.layers.count {
                layers.append(LayerFile(retaining: shown.pointee.layers.file(LayerIndex(layer))))
            }
            table = try SegmentTable(laying: shown.pointee.segments, over: try SegmentTable())
        } else {
            layers.append(LayerFile(retaining: file))
            table = try SegmentTable()
        }
        self.layers = layers
        self.table = table
    }

    /// Lays `pages` (a request's table; its layers are ignored) of `source`
    /// on top. `source` must stay open meanwhile.
    mutating func lay(_ pages: borrowing SegmentTable, of source: OpaquePointer) throws(OverlayError) {
        if let nested = OverlayHandle(servedBy: source)?.pointer {
            let nestedLayers = nested.pointee.layers.count
            try makeRoom(for: nestedLayers)
            var placement = LayerRenumbering()
            for layer in 0..<nestedLayers {
                placement[LayerIndex(layer)] = place(nested.pointee.layers.file(LayerIndex(layer)))
            }
            var selected = try SegmentTable(selecting: pages, from: nested.pointee.segments)
            selected.renumberLayers(placement)
            table = try SegmentTable(laying: selected, over: table)
        } else {
            if layers.index(ofSameFileAs: source) == nil { try makeRoom(for: 1) }
            table = try SegmentTable(laying: pages, servedBy: place(source), over: table)
        }
    }

    /// The finished overlay: the base's own segments dropped, the layers
    /// that serve no page dropped, the rest renumbered in their order.
    consuming func overlay(serial: UInt64) throws(OverlayError) -> Overlay {
        table.dropBaseSegments()
        let layers = try compacted(capacity: nil)
        var fingerprint = StackFingerprint()
        layers.fingerprint(into: &fingerprint)
        table.fingerprint(into: &fingerprint)
        return Overlay(segments: table, layers: layers, serial: serial, fingerprint: fingerprint.value)
    }

    /// The layer index of `file`: the layer that reads its inode, or a new
    /// top layer (room for it was made).
    private mutating func place(_ file: OpaquePointer) -> LayerIndex {
        if let index = layers.index(ofSameFileAs: file) { return LayerIndex(index) }
        layers.append(LayerFile(retaining: file))
        return LayerIndex(layers.count - 1)
    }

    /// Makes sure `more` new layers fit, dropping layers that no longer
    /// serve any page if needed; `.tooManyLayers` when they still do not.
    private mutating func makeRoom(for more: Int) throws(OverlayError) {
        if layers.count + more <= Layers.maximumCount { return }
        layers = try compacted(capacity: Layers.maximumCount)
        guard layers.count + more <= Layers.maximumCount else { throw .tooManyLayers }
    }

    /// The layers the table uses, in order, in a new list (of `capacity`,
    /// or just large enough), with the table renumbered to match.
    private mutating func compacted(capacity: Int?) throws(OverlayError) -> LayerList {
        let used = table.usedLayers
        let renumbering = LayerRenumbering(keeping: used)
        var kept = try LayerList(capacity: capacity ?? renumbering.count)
        for layer in 0..<layers.count where used.contains(LayerIndex(layer)) {
            kept.append(LayerFile(retaining: layers.file(LayerIndex(layer))))
        }
        table.renumberLayers(renumbering)
        return kept
    }
}
