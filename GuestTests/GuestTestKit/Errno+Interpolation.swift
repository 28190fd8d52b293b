// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage

extension DefaultStringInterpolation {
    /// An errno in a test's message names itself, as the library formats
    /// every errno: "ENOENT (No such file or directory)" rather than
    /// swift-system's message alone.
    public mutating func appendInterpolation(_ error: Errno) {
        appendLiteral(error.nameAndMessage)
    }
}
