// SPDX-License-Identifier: GPL-2.0-or-later

/// A layer of a stack being composed. Two layers are the same layer when
/// they read the same file (by identity: two descriptors of one file share
/// its page cache), whatever open file each came from.
protocol StackLayer: ~Copyable {
    var stackIdentity: UInt64 { get }
    /// The layer's size in pages.
    var stackPages: UInt64 { get }
}

/// An overlay's layers and table while a request composes them: what the
/// base mapping shows, then each of the request's layers laid on top,
/// flattened into one table over plain files.
///
/// A mapping that already shows an overlay contributes that overlay's
/// layers and table; a layer that is itself an overlay file contributes its
/// own layers and table, cut to the pages it is asked to serve. So every
/// overlay reads plain files only: no read goes through a second overlay's
/// page cache (no recursion on the kernel stack, no nested page-cache
/// locks, no page cached twice), however the stack was built.
///
/// Generic over what a layer is, so that the same code composes the
/// kernel's files and the host tests' stand-ins.
struct LayerStack<Layer: StackLayer & ~Copyable>: ~Copyable {
    private var layers: LayerBuffer<Layer>
    private var table: SegmentTable

    /// A stack of `base` alone: it serves every page.
    init(base: consuming Layer) throws(OverlayError) {
        var layers = try LayerBuffer<Layer>(capacity: Layers.maximumCount)
        let table = try SegmentTable()
        layers.append(base)
        self.layers = layers
        self.table = table
    }

    /// The stack an overlay shows: its layers (base first) and its table.
    init(layers shown: consuming LayerBuffer<Layer>, table shownTable: borrowing SegmentTable) throws(OverlayError) {
        var layers = try LayerBuffer<Layer>(capacity: Layers.maximumCount)
        let table = try SegmentTable(laying: shownTable, over: try SegmentTable())
        shown.drain { _, layer in layers.append(layer) }
        self.layers = layers
        self.table = table
    }

    /// Lays `pages` (a request's table; its layers are ignored) of `layer`
    /// on top.
    mutating func lay(_ pages: borrowing SegmentTable, of layer: consuming Layer) throws(OverlayError) {
        if index(of: layer.stackIdentity) == nil { try makeRoom(for: 1) }
        let placed = place(layer)
        table = try SegmentTable(laying: pages, servedBy: placed, over: table)
    }

    /// Lays `pages` of a layer that is itself an overlay, whose layers (base
    /// first) and table are `nested` and `nestedTable`: its own stack, cut to
    /// those pages, takes the layer's place.
    mutating func lay(_ pages: borrowing SegmentTable, ofStack nested: consuming LayerBuffer<Layer>,
                      table nestedTable: borrowing SegmentTable) throws(OverlayError) {
        try makeRoom(for: nested.count)
        var placement = LayerRenumbering()
        nested.drain { index, layer in placement[LayerIndex(index)] = place(layer) }
        var selected = try SegmentTable(selecting: pages, from: nestedTable)
        selected.renumberLayers(placement)
        table = try SegmentTable(laying: selected, over: table)
    }

    /// Lays `layers` where `table` says: its layer i (from 1) is
    /// `layers[i - 1]`; pages it does not cover keep what they show. (The
    /// own layers of an overlay, over what its lower layers show.)
    mutating func lay(_ table: borrowing SegmentTable, over layers: consuming LayerBuffer<Layer>) throws(OverlayError) {
        try makeRoom(for: layers.count)
        var placement = LayerRenumbering()
        layers.drain { index, layer in placement[LayerIndex(index + 1)] = place(layer) }
        var placed = try SegmentTable(laying: table, over: try SegmentTable())
        placed.renumberLayers(placement)
        self.table = try SegmentTable(laying: placed, over: self.table)
    }

    /// The finished stack: the base's own segments dropped, the layers that
    /// serve no page dropped, the rest renumbered in their order.
    consuming func finish() throws(OverlayError) -> ComposedStack<Layer> {
        table.dropBaseSegments()
        try compact(capacity: nil)
        var fingerprint = StackFingerprint()
        for index in 0..<layers.count {
            layers.withElement(index) { layer in fingerprint.combine(layer.stackIdentity) }
        }
        table.fingerprint(into: &fingerprint)
        return ComposedStack(layers: layers, table: table, fingerprint: fingerprint.value)
    }

    /// The index of the layer that reads the file `identity` names.
    private func index(of identity: UInt64) -> Int? {
        for index in 0..<layers.count where layers.withElement(index, { $0.stackIdentity == identity }) {
            return index
        }
        return nil
    }

    /// The index of `layer`'s file: the layer that reads it already (then
    /// `layer` is dropped), or a new top layer (room for it was made).
    private mutating func place(_ layer: consuming Layer) -> LayerIndex {
        if let index = index(of: layer.stackIdentity) { return LayerIndex(index) }
        layers.append(layer)
        return LayerIndex(layers.count - 1)
    }

    /// Makes sure `more` new layers fit, dropping layers that no longer
    /// serve any page if needed; `.tooManyLayers` when they still do not.
    private mutating func makeRoom(for more: Int) throws(OverlayError) {
        if layers.count + more <= Layers.maximumCount { return }
        try compact(capacity: Layers.maximumCount)
        guard layers.count + more <= Layers.maximumCount else { throw .tooManyLayers }
    }

    /// Keeps only the layers the table uses, in order, in a new buffer (of
    /// `capacity`, or just large enough), and renumbers the table to match.
    private mutating func compact(capacity: Int?) throws(OverlayError) {
        let used = table.usedLayers
        let renumbering = LayerRenumbering(keeping: used)
        var kept = try LayerBuffer<Layer>(capacity: capacity ?? renumbering.count)
        layers.drain { index, layer in
            if used.contains(LayerIndex(index)) { kept.append(layer) }
        }
        layers = kept
        table.renumberLayers(renumbering)
    }
}

/// A finished stack: its layers (base first, each file once, each serving
/// some page) and its table, with the fingerprint by which requests find an
/// overlay of the same stack.
struct ComposedStack<Layer: StackLayer & ~Copyable>: ~Copyable {
    var layers: LayerBuffer<Layer>
    var table: SegmentTable
    let fingerprint: UInt64
}
