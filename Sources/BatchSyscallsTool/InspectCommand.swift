// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import FoundationEssentials
import Glibc
import MemoryOverlay
import SystemPackage

/// `batch-syscalls inspect`: lists the overlays the module has registered,
/// from its debugfs listing, as a table or as JSON.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List the live overlays.",
        discussion: """
            Reads the module's listing of registered overlays (debugfs, so \
            usually root only) and prints one row per overlay: the process that \
            created it and its command name (from /proc, "-" once it has \
            exited), its id, the segments of its table after merging (stacked \
            requests included), its layer files (the base file, then each \
            overlay file), how many overlay files deep they nest, the pages of \
            the overlay in the page cache now, and the pages read so far from \
            each layer, base first. An overlay is listed from its creation \
            until its id is cleaned up or its last mapping goes away.

            With no overlays it says so and exits with status 0 (--json: []). \
            When the listing cannot be read it says why (debugfs not mounted, \
            module not loaded, not root) and exits with status 1.

            The TARGET column is the process whose mapping shows the overlay: the \
            creator's own, or the one a request named by pidfd (`restore --pid`). \
            --pid PID lists only the overlays in process PID's mappings.

            --json prints an array with one object per overlay: "pid", \
            "command" (null when unknown), "id", "overlay", "attached", "segments", "layers", \
            "cached_pages", "pages_served" (an array, base first) and "target".

            EXAMPLES:
              List the overlays while one is held:
                batch-syscalls apply --base base.bin --overlay overlay.bin \\
                    --segments 0-9 --hold 30 &
                batch-syscalls inspect

              Pages served from the base file by each overlay, with jq:
                batch-syscalls inspect --json | jq '.[].pages_served[0]'
            """
    )

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("The module's listing of live overlays.", valueName: "path"))
    var listing: String = LiveOverlay.listingPath.string

    @Option(help: ArgumentHelp("List only the overlays in this process's mappings.", valueName: "pid"))
    var pid: Int?

    func run() throws {
        let overlays: [LiveOverlay]
        do {
            overlays = try LiveOverlay.all(listingPath: FilePath(listing))
        } catch {
            throw ToolFailure("read \(listing)", error, hint: Self.diagnose(error, listing: listing))
                .report(from: Self.self)
        }
        let rows = overlays.filter { pid == nil || $0.targetProcessID == pid }
            .map { Row(overlay: $0, command: Self.commandName(of: $0.processID)) }
        if json {
            Console.line(try Self.json(rows))
        } else if rows.isEmpty {
            Console.line(pid.map { "no live overlays in process \($0)" } ?? "no live overlays (\(listing) lists none)")
        } else {
            Console.line(Self.table(rows))
        }
    }

    /// One overlay and what /proc says of its creator.
    struct Row {
        var overlay: LiveOverlay
        var command: String?
    }

    /// Columns padded to their widest cell; numbers right-aligned.
    static func table(_ rows: [Row]) -> String {
        let header = ["PID", "COMMAND", "ID", "TARGET", "OVERLAY", "ATTACHED", "SEGMENTS", "LAYERS", "CACHED",
                      "SERVED (BASE FIRST)"]
        let numeric = [true, false, false, true, true, true, true, true, true, false]
        let cells = rows.map { row in
            let overlay = row.overlay
            return [String(overlay.processID), row.command ?? "-", overlay.id.description,
                    String(overlay.targetProcessID), String(overlay.overlayNumber), String(overlay.attachedRequests),
                    String(overlay.segmentCount), String(overlay.layerCount),
                    String(overlay.cachedPages), overlay.pagesServed.map(String.init).joined(separator: ",")]
        }
        let widths = header.indices.map { column in
            ([header] + cells).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                let last = column == cells.count - 1
                text += numeric[column] ? padding + cell : cell + (last ? "" : padding)
                if !last { text += "  " }
            }
            return text
        }
        return ([line(header)] + cells.map(line)).joined(separator: "\n")
    }

    /// One overlay as `--json` prints it.
    struct Record: Encodable {
        var pid: Int
        var command: String?
        var id: String
        var segments: Int
        var overlay: Int
        var attached: Int
        var layers: Int
        var cachedPages: Int
        var pagesServed: [Int]
        var target: Int

        init(_ row: Row) {
            pid = row.overlay.processID
            command = row.command
            id = row.overlay.id.description
            segments = row.overlay.segmentCount
            overlay = row.overlay.overlayNumber
            attached = row.overlay.attachedRequests
            target = row.overlay.targetProcessID
            layers = row.overlay.layerCount
            cachedPages = row.overlay.cachedPages
            pagesServed = row.overlay.pagesServed
        }

        enum CodingKeys: String, CodingKey {
            case pid, command, id, overlay, attached, segments, layers
            case cachedPages = "cached_pages", pagesServed = "pages_served"
        }

        // Spelled out so that an unknown command is `null`, not left out.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(pid, forKey: .pid)
            try container.encode(command, forKey: .command)
            try container.encode(id, forKey: .id)
            try container.encode(overlay, forKey: .overlay)
            try container.encode(attached, forKey: .attached)
            try container.encode(segments, forKey: .segments)
            try container.encode(layers, forKey: .layers)
            try container.encode(cachedPages, forKey: .cachedPages)
            try container.encode(pagesServed, forKey: .pagesServed)
        }
    }

    /// The rows as a JSON array (Foundation's encoder: a command name may
    /// hold any byte but NUL).
    static func json(_ rows: [Row]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(rows.map(Record.init)), as: UTF8.self)
    }

    /// The command name of process `pid` (`/proc/PID/comm`), or nil once it
    /// has exited: an overlay outlives its creator when a forked child
    /// still maps it.
    static func commandName(of pid: Int) -> String? {
        guard let descriptor = try? FileDescriptor.open("/proc/\(pid)/comm", .readOnly, options: .closeOnExec) else {
            return nil
        }
        defer { try? descriptor.close() }
        var buffer = [UInt8](repeating: 0, count: 64)
        guard let count = try? buffer.withUnsafeMutableBytes({ try descriptor.read(into: $0) }), count > 0 else {
            return nil
        }
        return String(decoding: buffer[0..<count], as: UTF8.self).trimmingSuffix("\n")
    }

    /// Why the listing is missing or unreadable, in the terms of what to do
    /// about it; nil when there is nothing more to say than the errno.
    static func diagnose(_ error: Errno, listing: String) -> String? {
        let debugfs = "/sys/kernel/debug"
        switch error {
        case .noSuchFileOrDirectory where listing.hasPrefix(debugfs + "/"):
            if !hasEntries(debugfs) {
                return "debugfs is not mounted (\(debugfs) is empty): mount -t debugfs none \(debugfs)"
            }
            if access("/sys/module/batch_syscalls", F_OK) != 0 && !OverlayDevice.exists() {
                return "the batch_syscalls module is not loaded (no /sys/module/batch_syscalls)"
            }
            return "debugfs is mounted and the module is loaded, but it lists nothing there"
        case .permissionDenied, .notPermitted:
            return "debugfs is readable by root only"
        default:
            return nil
        }
    }

    /// Whether directory `path` holds anything but `.` and `..`: false when
    /// it is missing, true when it cannot be read (not known to be empty).
    private static func hasEntries(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return errno != ENOENT }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { return true }
        }
        return false
    }
}

extension String {
    /// The string without one trailing `suffix`, if it ends with it.
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
