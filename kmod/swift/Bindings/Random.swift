// SPDX-License-Identifier: GPL-2.0-or-later

extension OverlayID {
    /// A new random id (never derived from an address).
    static func random() -> OverlayID {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { bs_random_bytes($0.baseAddress!, $0.count) }
        return OverlayID(high: words.0, low: words.1)
    }
}
