// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// `generate`: writes the data files the scenarios read.
enum GenerateCommand {
    static let defaultSeed: UInt64 = 0x6261_7463_6873_7973  // "batchsys"

    static func run(_ arguments: Arguments) throws -> Int32 {
        guard let directory = arguments.string("dir") else { throw Arguments.Invalid(description: "generate needs --dir D") }
        let pages = try arguments.integer("pages", default: 1024)
        let xlPages = try arguments.integer("xl-pages", default: 0)
        let seed = try arguments.unsigned64("seed", default: defaultSeed)
        guard pages >= 1 else { throw Arguments.Invalid(description: "--pages must be at least 1") }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw SysError("mkdir \(directory)") }

        // Each file has its own stream, so no page of one equals the same
        // page of another (with overwhelming probability: 4096 random bytes).
        try writeRandom("\(directory)/\(DataFile.base)", pages: pages, seed: seed, stream: 1)
        try writeRandom("\(directory)/\(DataFile.base2)", pages: pages, seed: seed, stream: 2)
        try writeRandom("\(directory)/\(DataFile.overlay)", pages: pages, seed: seed, stream: 3)
        try writeZebra("\(directory)/\(DataFile.zebra)", pages: pages)
        if xlPages > 0 {
            try writeRandom("\(directory)/\(DataFile.baseXL)", pages: xlPages, seed: seed, stream: 4)
            try writeRandom("\(directory)/\(DataFile.overlayXL)", pages: xlPages, seed: seed, stream: 5)
        }
        Output.line("wrote \(pages)-page base.bin, base2.bin, overlay.bin, overlay_zebra.bin"
                    + (xlPages > 0 ? " and \(xlPages)-page baseXL.bin, overlayXL.bin" : "")
                    + " to \(directory) (page size \(pageSize), seed 0x\(hex(seed)))")
        return 0
    }

    private static func writeRandom(_ path: String, pages: Int, seed: UInt64, stream: UInt64) throws {
        var generator = SplitMix64(seed: seed ^ (stream &* 0xA24B_AED4_963E_E407))
        try write(path, pages: pages) { chunk, _ in generator.fill(chunk) }
    }

    /// Pages alternating all-0x00 and all-0xFF, starting with zeros.
    private static func writeZebra(_ path: String, pages: Int) throws {
        try write(path, pages: pages) { chunk, firstPage in
            for index in 0..<(chunk.count / pageSize) {
                let fill: UInt8 = (firstPage + index) % 2 == 0 ? 0x00 : 0xFF
                memset(chunk.baseAddress! + index * pageSize, Int32(fill), pageSize)
            }
        }
    }

    /// Writes `pages` pages in 4 MiB chunks that `fill(chunk, firstPage)` fills.
    private static func write(_ path: String, pages: Int,
                              _ fill: (UnsafeMutableRawBufferPointer, Int) -> Void) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw SysError("create \(path)") }
        defer { close(fd) }
        let chunkPages = max(1, (4 << 20) / pageSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        var page = 0
        while page < pages {
            let count = min(chunkPages, pages - page)
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(count * pageSize)])
            fill(chunk, page)
            var offset = 0
            while offset < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { throw SysError("write \(path)") }
                offset += n
            }
            page += count
        }
        if fsync(fd) != 0 { throw SysError("fsync \(path)") }
    }
}
