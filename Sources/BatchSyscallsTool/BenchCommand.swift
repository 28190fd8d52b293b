// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "TODO")
}
