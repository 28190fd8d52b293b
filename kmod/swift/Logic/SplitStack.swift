// SPDX-License-Identifier: GPL-2.0-or-later

/// A slot of an overlay's own stack: the layers beneath (whatever they show),
/// or one of its own layers.
enum StackSlot<Layer: StackLayer & ~Copyable>: StackLayer, ~Copyable {
    case below
    case layer(Layer)

    /// `.below` has an identity no file has (a file's is its inode's address).
    var stackIdentity: UInt64 {
        switch self {
        case .below: return .max
        case .layer(let layer): return layer.stackIdentity
        }
    }

    var stackPages: UInt64 {
        switch self {
        case .below: return 0
        case .layer(let layer): return layer.stackPages
        }
    }
}

/// A request's stack, split where its own layers begin: the shared layers
/// beneath (the lower stack, served from one page cache that every restore
/// with the same lower stack shares) and the restore's own layers above
/// (whose pages each restore copies privately when it first touches them).
///
/// Own layers are a suffix: once an own layer is laid, every layer laid
/// after it is own too, so the lower stack is exactly the stack before the
/// first own layer, and the own stack is composed over "whatever is below"
/// (`StackSlot.below`). Where an own layer serves a page, the lower stack's
/// page there is never shown.
struct SplitStack<Layer: StackLayer & ~Copyable>: ~Copyable {
    private var lower: LayerStack<Layer>
    private var own: LayerStack<StackSlot<Layer>>
    /// Whether an own layer was laid (then all later layers are own).
    private(set) var hasOwnLayers: Bool
    /// Whether a layer was asked for as own explicitly (not by default).
    private var ownAsked = false
    /// The most pages a layer has (the overlay's size).
    private var pages: UInt64 = 0

    /// A stack of shared layers, with no own layer yet.
    init(lower: consuming LayerStack<Layer>, pages: UInt64) throws(OverlayError) {
        let own = try LayerStack<StackSlot<Layer>>(base: .below)
        self.lower = lower
        self.own = own
        hasOwnLayers = false
        self.pages = pages
    }

    /// The stack an overlay shows: its lower stack, and its own layers (layer
    /// i of `ownTable`, from 1, is `ownLayers[i - 1]`), which stay own.
    init(lower: consuming LayerStack<Layer>, ownLayers: consuming LayerBuffer<Layer>,
         ownTable: borrowing SegmentTable, pages: UInt64) throws(OverlayError) {
        var own = try LayerStack<StackSlot<Layer>>(base: .below)
        let hasOwn = ownLayers.count > 0
        try own.lay(ownTable, over: try Self.slots(ownLayers))
        self.lower = lower
        self.own = own
        hasOwnLayers = hasOwn
        ownAsked = hasOwn
        self.pages = pages
    }

    /// Lays `pages` of `layer` on top, in `role`.
    mutating func lay(_ pages: borrowing SegmentTable, of layer: consuming Layer, as role: LayerRole) throws(OverlayError) {
        self.pages = Swift.max(self.pages, layer.stackPages)
        if role.isOwn || hasOwnLayers {
            note(role)
            try own.lay(pages, of: .layer(layer))
        } else {
            try lower.lay(pages, of: layer)
        }
    }

    /// Lays `pages` of a layer that is itself a stack (base first, and its
    /// table), in `role`.
    mutating func lay(_ pages: borrowing SegmentTable, ofStack nested: consuming LayerBuffer<Layer>,
                      table: borrowing SegmentTable, as role: LayerRole) throws(OverlayError) {
        for index in 0..<nested.count { self.pages = Swift.max(self.pages, nested.withElement(index) { $0.stackPages }) }
        if role.isOwn || hasOwnLayers {
            note(role)
            try own.lay(pages, ofStack: try Self.slots(nested), table: table)
        } else {
            try lower.lay(pages, ofStack: nested, table: table)
        }
    }

    private mutating func note(_ role: LayerRole) {
        hasOwnLayers = true
        if role.isExplicit { ownAsked = true }
    }

    /// The finished stacks. Own layers that nobody asked for (the default
    /// top layer) and that serve more than `OwnPages.largestShare` of the
    /// overlay's pages are laid on the lower stack instead: see `OwnPages`.
    consuming func finish() throws(OverlayError) -> SplitComposition<Layer> {
        let (ownAsked, pages) = (self.ownAsked, self.pages)
        var own = try self.own.finish()
        var lower = self.lower
        if !ownAsked && OwnPages.areTooMany(own.table, of: pages) {
            var layers = try LayerBuffer<Layer>(capacity: own.layers.count)
            own.layers.drain { _, slot in
                switch consume slot {
                case .below: break
                case .layer(let layer): layers.append(layer)
                }
            }
            try lower.lay(own.table, over: layers)
            own = try LayerStack<StackSlot<Layer>>(base: .below).finish()
        }
        return SplitComposition(lower: try lower.finish(), own: own)
    }

    private static func slots(_ layers: consuming LayerBuffer<Layer>) throws(OverlayError) -> LayerBuffer<StackSlot<Layer>> {
        var slots = try LayerBuffer<StackSlot<Layer>>(capacity: layers.count)
        layers.drain { _, layer in slots.append(.layer(layer)) }
        return slots
    }
}

/// A finished overlay stack: the lower stack (shared layers, base first) and
/// the own stack (layer 0 stands for the lower stack; the own layers serve
/// the pages its table names).
struct SplitComposition<Layer: StackLayer & ~Copyable>: ~Copyable {
    var lower: ComposedStack<Layer>
    var own: ComposedStack<StackSlot<Layer>>
}

/// Whether a layer is a restore's own, and whether the request said so.
struct LayerRole {
    let isOwn: Bool
    let isExplicit: Bool

    static let shared = LayerRole(isOwn: false, isExplicit: true)
    static let own = LayerRole(isOwn: true, isExplicit: true)
    /// The top layer, own by default.
    static let ownByDefault = LayerRole(isOwn: true, isExplicit: false)
}

/// Which layers of a request are its own: by default its top layer (the
/// last it lays: a restore's own diff), the layers beneath shared.
/// `MEM_OVERLAY_LAYER_OWN` and `MEM_OVERLAY_LAYER_SHARED` say otherwise for
/// a layer; own layers being a suffix (see `SplitStack`), a layer above an
/// own one is own whatever it says.
enum LayerRoles {
    /// `MEM_OVERLAY_LAYER_OWN`.
    static let ownFlag: UInt32 = 1 << 1
    /// `MEM_OVERLAY_LAYER_SHARED`.
    static let sharedFlag: UInt32 = 1 << 2

    /// The role layer `index` of `count` (lowest first) asks for.
    static func role(index: Int, of count: Int, flags: UInt32) -> LayerRole {
        if flags & ownFlag != 0 { return .own }
        if flags & sharedFlag != 0 { return .shared }
        return index == count - 1 ? .ownByDefault : .shared
    }
}

/// When a restore's own pages are too many to copy.
///
/// Own pages become private memory: restores never share them, and the
/// kernel can reclaim them only to swap. That is the right trade for a diff
/// of dirty pages over a template (few pages, the fleet case: the template
/// stays shared). For a layer that replaces much of the view it is the
/// wrong one: restores of the same stack would each hold a private copy of
/// it, and under memory pressure without swap they could not give it back.
/// So a top layer that serves more than a quarter of the overlay's pages is
/// shared like the layers beneath (`MEM_OVERLAY_LAYER_OWN` asks otherwise).
enum OwnPages {
    /// The share of the overlay's pages above which default own layers are shared.
    static let largestShare: (numerator: UInt64, denominator: UInt64) = (1, 4)

    /// Whether `table`'s pages are more than that share of `pages`.
    static func areTooMany(_ table: borrowing SegmentTable, of pages: UInt64) -> Bool {
        var covered: UInt64 = 0
        for segment in table.segments where segment.first < pages {
            covered += Swift.min(segment.last, pages - 1) - segment.first + 1
        }
        return covered * largestShare.denominator > pages * largestShare.numerator
    }
}
