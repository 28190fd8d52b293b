// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "TODO")
}
