// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import SampleFiles

/// The `--seed` of `sample-files`: a 64-bit number, decimal or `0x` hex, that
/// fixes the contents of every seeded page (same seed, same bytes).
struct DataSeed: ExpressibleByArgument, Equatable {
    var value: UInt64

    /// The generator's own default, "batchsys" in ASCII.
    static let `default` = DataSeed(value: DataGenerator.defaultSeed)

    init(value: UInt64) {
        self.value = value
    }

    /// `12345` or `0x3039` (`0X` too); nil for anything else, negative
    /// numbers and values past 64 bits included.
    init?(argument: String) {
        guard let parsed = SplitMix64.seed(parsing: argument) else { return nil }
        value = parsed
    }

    /// Shown in hex, as the summary shows it, so it can be pasted back.
    var defaultValueDescription: String { Units.hex(value) }
}
