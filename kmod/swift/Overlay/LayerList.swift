// SPDX-License-Identifier: GPL-2.0-or-later

import Synchronization

/// The files an overlay reads, by layer index (0 is the base), each with
/// the file's stamp when the overlay was made and a count of the pages it
/// has filled into the overlay's page cache.
struct LayerList: ~Copyable {
    struct Entry: ~Copyable {
        let file: KernelFile
        let stamp: FileStamp
        let pagesServed = Atomic<UInt64>(0)
    }

    private var entries: LayerBuffer<Entry>

    /// The layers of a composed stack, stamped now.
    init(_ files: consuming LayerBuffer<KernelFile>) throws(OverlayError) {
        var entries = try LayerBuffer<Entry>(capacity: files.count)
        files.drain { _, file in
            let stamp = file.stamp
            entries.append(Entry(file: file, stamp: stamp))
        }
        self.entries = entries
    }

    /// Number of layers.
    var count: Int { entries.count }

    /// Calls `body` with the file that serves `layer`.
    func withFile<Result: ~Copyable>(_ layer: LayerIndex, _ body: (borrowing KernelFile) -> Result) -> Result {
        entries.withElement(Int(layer)) { entry in body(entry.file) }
    }

    /// New references to every layer file, base first (a stack to lay on).
    func retainedFiles() throws(OverlayError) -> LayerBuffer<KernelFile> {
        var files = try LayerBuffer<KernelFile>(capacity: count)
        for layer in 0..<count {
            files.append(entries.withElement(layer) { entry in KernelFile(retaining: entry.file) })
        }
        return files
    }

    /// Whether every layer file is as it was when the overlay was made and
    /// open for writing nowhere: then the overlay's page cache holds what a
    /// new overlay of the same files would read, and it may be shared.
    var isUnchangedAndUnwritten: Bool {
        for layer in 0..<count {
            let unchanged = entries.withElement(layer) { entry in
                entry.file.stamp == entry.stamp && !entry.file.hasWriters
            }
            guard unchanged else { return false }
        }
        return true
    }

    /// Whether a layer file may not be executed (its mount is noexec).
    var forbidsExecution: Bool {
        for layer in 0..<count where entries.withElement(layer, { $0.file.info.forbidsExecution }) { return true }
        return false
    }

    /// Whether every layer file is on a filesystem with a block device.
    var allOnBlockFilesystems: Bool {
        for layer in 0..<count where entries.withElement(layer, { $0.file.info.blockFilesystemMagic == 0 }) {
            return false
        }
        return true
    }

    /// Whether `other` reads the same files (by identity) in the same order.
    func hasSameFiles(as other: borrowing LayerList) -> Bool {
        guard count == other.count else { return false }
        for layer in 0..<count {
            let mine = entries.withElement(layer) { $0.file.identity }
            let theirs = other.entries.withElement(layer) { $0.file.identity }
            if mine != theirs { return false }
        }
        return true
    }

    /// The largest of the layers' sizes and readahead windows.
    var largest: (size: Int64, readaheadPages: UInt32) {
        var size: Int64 = 0
        var pages: UInt32 = 0
        for layer in 0..<count {
            let info = entries.withElement(layer) { $0.file.info }
            size = Swift.max(size, info.size)
            pages = Swift.max(pages, info.readaheadPages)
        }
        return (size, pages)
    }

    /// Counts `pages` filled from `layer`.
    func recordServed(_ pages: UInt64, from layer: LayerIndex) {
        entries.withElement(Int(layer)) { entry in _ = entry.pagesServed.add(pages, ordering: .relaxed) }
    }

    /// Pages filled from `layer` so far.
    func pagesServed(by layer: LayerIndex) -> UInt64 {
        entries.withElement(Int(layer)) { entry in entry.pagesServed.load(ordering: .relaxed) }
    }
}

extension KernelFile: StackLayer {
    var stackIdentity: UInt64 { identity.value }
    var stackPages: UInt64 { UInt64(Swift.max(info.size, 0) + 4095) >> pageShift }
}
