// SPDX-License-Identifier: GPL-2.0-or-later

/// Numbers as the table and the report print them.
enum BenchFormat {
    /// A duration with a unit that keeps 3 significant digits: `845 ns`,
    /// `12.3 µs`, `1.23 s`; `-` for none.
    static func duration(_ nanoseconds: UInt64?) -> String {
        guard let nanoseconds else { return "-" }
        let value = Double(nanoseconds)
        switch value {
        case ..<1_000: return "\(nanoseconds) ns"
        case ..<1_000_000: return significant(value / 1_000) + " µs"
        case ..<1_000_000_000: return significant(value / 1_000_000) + " ms"
        default: return significant(value / 1_000_000_000) + " s"
        }
    }

    /// Nanoseconds per page, rounded (`1832`), or `-`.
    static func perPage(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value >= 100 ? "\(Int(value.rounded()))" : fixed(value, digits: 1)
    }

    /// A ratio as `1.07x`, or `-`.
    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "-" }
        if value < 0.01 { return "<0.01x" }
        return (value >= 100 ? "\(Int(value.rounded()))" : significant(value)) + "x"
    }

    /// KiB as MiB with one decimal (`256.0`), or `-`.
    static func mebibytes(_ kibibytes: Int?) -> String {
        guard let kibibytes else { return "-" }
        return fixed(Double(kibibytes) / 1024, digits: 1)
    }

    /// An integer with thousands separators: `1,000,000`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// One progress line about a sample.
    static func brief(_ sample: BenchSample) -> String {
        var parts = ["setup \(duration(sample.setupNanoseconds))"]
        if let touch = sample.touchNanoseconds { parts.append("touch \(duration(touch))") }
        if let write = sample.writeTouchNanoseconds { parts.append("write \(duration(write))") }
        if let vmas = sample.vmas { parts.append("\(grouped(vmas)) VMAs") }
        if sample.contentsMatch == false { parts.append("WRONG CONTENTS") }
        return parts.joined(separator: ", ")
    }

    /// `value` with 3 significant digits (at most 2 decimals).
    static func significant(_ value: Double) -> String {
        let digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
        return fixed(value, digits: digits)
    }

    /// `value` with `digits` decimals, without Foundation's formatting.
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        guard scaled < 9e18 else { return "\(value)" }
        let whole = Int(scaled) / Int(scale)
        let fraction = Int(scaled) % Int(scale)
        var text = "\(whole)"
        if digits > 0 {
            let fractionText = String(fraction)
            text += "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
        }
        return value < 0 && scaled != 0 ? "-" + text : text
    }
}

/// A table of text cells, for the terminal (aligned columns) or Markdown.
struct BenchTextTable {
    let headers: [String]
    var rows: [[String]] = []
    /// Columns aligned right (numbers).
    let rightAligned: Set<Int>

    init(headers: [String], rightAligned: Set<Int>) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    /// Columns padded to their widest cell, two spaces apart.
    var text: String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (index, cell) in cells.enumerated() where index < widths.count {
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                parts.append(rightAligned.contains(index) ? padding + cell : cell + padding)
            }
            var text = parts.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        var lines = [line(headers)]
        lines.append(line(widths.map { String(repeating: "-", count: $0) }))
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Markdown (GitHub) table.
    var markdown: String {
        func line(_ cells: [String]) -> String {
            "| " + cells.map { $0.replacingPipes }.joined(separator: " | ") + " |"
        }
        var lines = [line(headers)]
        lines.append("|" + headers.indices.map { rightAligned.contains($0) ? " ---: |" : " --- |" }.joined())
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }
}

private extension String {
    /// A cell's text with `|` escaped for Markdown.
    var replacingPipes: String {
        var result = ""
        for character in self { if character == "|" { result += "\\|" } else { result.append(character) } }
        return result
    }
}
