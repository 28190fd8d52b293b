// SPDX-License-Identifier: GPL-2.0-or-later

/// Numbers for measurement lines, without Foundation's formatters (which
/// would pull Foundation into every program).
public enum NumberFormat {
    /// `value` with `digits` digits after the point: `fixed(1.2345, 2)` is
    /// "1.23".
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        let fraction = String(scaled % Int(scale))
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(whole)" }
        return "\(sign)\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// Nanoseconds per item, rounded to a whole nanosecond.
    public static func perItem(_ nanoseconds: UInt64, _ items: Int) -> String {
        items > 0 ? fixed(Double(nanoseconds) / Double(items), 0) : "-"
    }

    /// A ratio with two decimals (`1.07x`).
    public static func ratio(_ numerator: UInt64, _ denominator: UInt64) -> String {
        denominator > 0 ? fixed(Double(numerator) / Double(denominator), 2) + "x" : "-"
    }
}
