// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc
import MemoryOverlay
import SystemPackage

/// `batch-syscalls record`: writes the pages a process has touched in one
/// of its mappings as a loading-set file, for `restore --loading-set`.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Write the pages a process has touched in a mapping as a loading-set file.",
        discussion: """
            Reads /proc/PID/pagemap for the mapping of process PID that contains \
            --address, or its mapping of --file, and writes the file pages it maps \
            (or holds swapped out) to --output as a loading-set file (docs/abi.md, \
            "Loading-set files"): sorted page ranges, by file page offset of the \
            mapped file. Record at the end of a run the pages a restore of the same \
            snapshot will touch first; `restore --loading-set FILE` then has the \
            module read them ahead (and with --populate map them) in the request. \
            A read fault maps up to 16 neighbouring pages already cached as well \
            (the kernel's fault-around): they are recorded too.

            Prints one line: the ranges and pages written. Reading another \
            process's pagemap needs what reading its memory needs (same user, or \
            CAP_SYS_PTRACE).

            Exit status: 0 on success, 1 when a step fails, 64 for bad arguments.

            EXAMPLE:
              A VMM's touched guest memory, then a restore that loads it first:
                batch-syscalls record --pid $VMM --file snap/base.mem --output snap/boot.ls
                batch-syscalls restore --pid $NEW --base snap/base.mem snap/diff-*.mem \\
                    --loading-set snap/boot.ls --populate
            """
    )

    @Option(help: ArgumentHelp("The process whose mapping to record.", valueName: "pid"))
    var pid: Int32

    @Option(help: ArgumentHelp("An address inside the mapping to record (0x... or decimal).", valueName: "address"),
            transform: RestoreCommand.parseAddress)
    var address: UInt?

    @Option(help: ArgumentHelp("The file whose mapping to record (the process's first mapping of it).",
                               valueName: "path"))
    var file: String?

    @Option(help: ArgumentHelp("The loading-set file to write.", valueName: "file"))
    var output: String

    func validate() throws {
        if (address == nil) == (file == nil) {
            throw ValidationError("give --address or --file (one of them)")
        }
    }

    func run() throws {
        do {
            try record()
        } catch {
            throw error.report(from: Self.self)
        }
    }

    private func record() throws(ToolFailure) {
        let (target, found) = try RestoreCommand.openMapping(of: pid, at: address, path: file ?? "")
        let set: LoadingSet
        do {
            set = try LoadingSet.recordResident(in: target, mapping: found)
        } catch {
            throw ToolFailure("read /proc/\(pid)/pagemap", error,
                              hint: error == .argListTooLong ? "more ranges than one request may carry" : nil)
        }
        do {
            try set.write(to: FilePath(output))
        } catch {
            throw ToolFailure("write \(output)", error)
        }
        let name = found.path.isEmpty ? "anonymous" : found.path
        Console.line("recorded \(set.ranges.count) range\(set.ranges.count == 1 ? "" : "s"), "
                     + "\(set.pageCount) page\(set.pageCount == 1 ? "" : "s") of \(found.pageCount) "
                     + "touched in process \(pid)'s mapping of \(name) at 0x\(String(found.start, radix: 16)) "
                     + "to \(output)")
    }
}

extension TargetProcess.Mapping {
    /// The pages it spans.
    var pageCount: Int { Int(end - start) / MemoryPage.size }
}
