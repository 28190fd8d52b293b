// SPDX-License-Identifier: GPL-2.0-or-later

/// Sizes and durations written for people: "4.0 MiB", "38 µs".
///
/// Written out by hand rather than with `String(format:)`, which would pull
/// in Foundation's formatting for two numbers.
enum Units {
    /// `bytes` in the largest binary unit that keeps the number at least 1,
    /// with one decimal: "512 B", "4.0 MiB", "12.0 GiB".
    static func bytes(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        guard bytes >= 1024 else { return "\(bytes) B" }
        var value = Double(bytes)
        var unit = -1
        while value >= 1024, unit + 1 < units.count {
            value /= 1024
            unit += 1
        }
        return "\(oneDecimal(value)) \(units[unit])"
    }

    /// `duration` in ns, µs, ms or s, with three significant digits or so.
    static func duration(_ duration: Duration) -> String {
        let nanoseconds = seconds(duration) * 1e9
        switch nanoseconds {
        case ..<1e3: return "\(Int(nanoseconds.rounded())) ns"
        case ..<1e4: return "\(oneDecimal(nanoseconds / 1e3)) µs"
        case ..<1e6: return "\(Int((nanoseconds / 1e3).rounded())) µs"
        case ..<1e7: return "\(oneDecimal(nanoseconds / 1e6)) ms"
        case ..<1e9: return "\(Int((nanoseconds / 1e6).rounded())) ms"
        default: return "\(oneDecimal(nanoseconds / 1e9)) s"
        }
    }

    /// `duration` in seconds.
    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// "0x6261746368737973": how seeds are shown, so they can be pasted back.
    static func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }

    /// A non-negative value rounded to one decimal: "4.0", "12.5".
    private static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
