// SPDX-License-Identifier: GPL-2.0-or-later
import SystemPackage

/// A one-line progress bar redrawn in place on a terminal:
/// `baseXL.bin [##########..........]  50%  2.0 GiB of 4.0 GiB`.
///
/// Only for a terminal: in a log or a pipe the carriage returns would leave
/// a line per redraw, so callers print plain lines there instead.
struct ProgressBar {
    /// The terminal it draws on.
    let terminal: FileDescriptor
    /// The percentage last drawn, so a redraw happens only when it changes
    /// (a terminal write per 4 MiB chunk would cost more than it shows).
    private var drawnPercent: Int?

    init(terminal: FileDescriptor) {
        self.terminal = terminal
    }

    /// Shows `label` with `done` of `total` units (bytes, shown as sizes).
    mutating func show(_ label: String, done: Int, total: Int) {
        guard total > 0 else { return }
        let percent = Int(Double(done) / Double(total) * 100)
        guard percent != drawnPercent else { return }
        drawnPercent = percent
        let numbers = "\(Self.padded(percent, to: 3))%  \(Units.bytes(done)) of \(Units.bytes(total))"
        // Keep the line shorter than the terminal: a wrapped line can no
        // longer be redrawn with a carriage return. The room kept for the
        // numbers is their longest ("100%  1023.9 MiB of 1023.9 MiB"), so
        // the bar keeps its width while they grow.
        let width = min(40, Console.columns(of: terminal) - label.count - 36)
        var line = "\r\(label) "
        if width >= 10 {
            let filled = width * done / total
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
        }
        line += numbers + "\u{1B}[K"
        Console.write(line, to: terminal)
    }

    /// Erases the bar, leaving the cursor at the start of the empty line.
    mutating func clear() {
        guard drawnPercent != nil else { return }
        drawnPercent = nil
        Console.write("\r\u{1B}[K", to: terminal)
    }

    private static func padded(_ number: Int, to width: Int) -> String {
        let text = String(number)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
