// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "TODO")
}
