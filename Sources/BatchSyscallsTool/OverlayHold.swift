// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay

/// `--hold` of `apply` and `restore`: keeps an overlay, and the process
/// holding it, alive until a signal, the end of standard input or a time
/// limit releases it, then cleans its id up.
enum OverlayHold {
    /// `--hold`: keeps the overlay until something releases it.
    static func keep(_ created: consuming Overlay, for time: HoldTime) throws(ToolFailure) {
        let id = created.id
        var held: Overlay? = created
        try hold(id, for: time) { () throws(OverlayError) in try held.take()?.remove() }
    }

    /// `--hold` of an overlay in another process.
    static func keep(_ created: consuming ProcessOverlay, for time: HoldTime) throws(ToolFailure) {
        let id = created.id
        var held: ProcessOverlay? = created
        try hold(id, for: time) { () throws(OverlayError) in try held.take()?.remove() }
    }

    private static func hold(_ id: OverlayID, for time: HoldTime,
                             remove: () throws(OverlayError) -> Void) throws(ToolFailure) {
        let watcher: ReleaseWatcher
        do {
            watcher = try ReleaseWatcher()
        } catch {
            throw ToolFailure("hold: create a pipe", error)
        }
        // The handlers are in place before this line is out: a script that
        // waits for it and then sends SIGTERM cannot kill the process first.
        var releases = watcher.signals.map { ReleaseWatcher.Reason.signal($0).description }
        if watcher.watchesInput { releases.append("end of standard input") }
        if let limit = time.limit { releases.append("\(Units.duration(limit)) passed") }
        Console.line("holding overlay \(id) in pid \(getpid()) until " + either(releases))
        let reason: ReleaseWatcher.Reason
        do {
            reason = try watcher.wait(limit: time.limit)
        } catch {
            throw ToolFailure("hold: wait", error)
        }
        do {
            try remove()
        } catch {
            throw ToolFailure("clean up overlay \(id)", error)
        }
        Console.line("released overlay \(id): \(reason)")
    }

    /// "A, B or C"; "killed" when nothing else ends the hold.
    private static func either(_ items: [String]) -> String {
        guard let last = items.last else { return "killed" }
        return items.count == 1 ? last : items.dropLast().joined(separator: ", ") + " or " + last
    }
}
