// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

/// The option every seed program takes: where the sample files are.
public struct SeedOptions: ParsableArguments {
    @Option(name: .customLong("dir"),
            help: ArgumentHelp("The directory holding the sample files (batch-syscalls sample-files).",
                               valueName: "directory"))
    public var directory = "."

    public init() {}

    /// A positive integer, as count options (`--threads N`) take it.
    public static func count(_ text: String) throws -> Int {
        guard let value = Int(text), value > 0 else {
            throw ValidationError("'\(text)' is not a positive integer")
        }
        return value
    }

    /// Positive integers separated by commas (`1,10`), as list options
    /// take them.
    public static func counts(_ text: String) throws -> [Int] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { try count(String($0)) }
    }
}
