// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "TODO")
}
