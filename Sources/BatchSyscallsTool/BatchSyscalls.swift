// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Glibc

/// `batch-syscalls`: write sample files, lay overlays on real files, list
/// live overlays, measure.
@main
struct BatchSyscalls: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-syscalls",
        abstract: "Lay segments of overlay files over a file mapping with /dev/batch_syscalls.",
        discussion: """
            The kernel module batch-syscalls.ko lets a process lay page ranges of \
            overlay files over a private file mapping with one ioctl. This tool \
            writes sample files, applies overlays and snapshot chains to real files, \
            flattens chains, records loading sets, lists live overlays \
            and measures the module against the alternatives.
            """,
        subcommands: [SampleFilesCommand.self, ApplyCommand.self, RestoreCommand.self, RecordCommand.self,
                      FlattenCommand.self, InspectCommand.self, BenchCommand.self]
    )

    static func main() {
        // The report is a courtesy (see Console): a reader that goes away,
        // as `| grep -q` or `| head` does at its first match, must not kill
        // a flatten before it writes its file or a hold before it releases
        // its overlay. Ignored, SIGPIPE becomes EPIPE, which Console drops.
        signal(SIGPIPE, SIG_IGN)
        main(nil)
    }
}
