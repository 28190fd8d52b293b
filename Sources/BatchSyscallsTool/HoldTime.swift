// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

/// How long `apply --hold` keeps the overlay: until it is released, or at
/// most a number of seconds (`--hold 30`).
enum HoldTime: ExpressibleByArgument, Equatable, CustomStringConvertible {
    /// Until a signal or the end of standard input releases it.
    case untilReleased
    /// As `untilReleased`, but no longer than this.
    case atMost(Duration)

    /// A number of seconds, fractions allowed (`0.5`). Zero is parsed, so
    /// that `validate()` can say what is wrong with it.
    init?(argument: String) {
        guard let seconds = Double(argument), seconds.isFinite, seconds >= 0 else { return nil }
        self = .atMost(.milliseconds(Int64((seconds * 1000).rounded(.up))))
    }

    /// As help shows it for `--hold` given alone ("default as flag").
    var description: String {
        switch self {
        case .untilReleased: "until released"
        case .atMost(let limit): Units.duration(limit)
        }
    }

    /// The longest wait, if any.
    var limit: Duration? {
        if case .atMost(let limit) = self { return limit }
        return nil
    }
}
