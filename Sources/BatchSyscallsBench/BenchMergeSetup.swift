// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc
import MemoryOverlay
import SystemPackage

/// The simplest composition: anonymous memory holding the base file, read
/// whole, with each overlay segment read over it. Everything is copied
/// before the first touch.
enum BenchMergeSetup {
    static func setUp(_ input: BenchInput) throws(BenchError) -> BenchRegion {
        let memory = try BenchAnonymousMemory(pages: input.layout.pages)
        let pageSize = MemoryPage.size
        try read(input.files.base, into: memory.address, byteOffset: 0, length: memory.length)
        let descriptor = try openForReading(input.files.overlay)
        defer { close(descriptor) }
        for segment in input.layout.segments {
            try readAll(descriptor, name: input.files.overlay, into: memory.address + segment.lowerBound * pageSize,
                        byteOffset: segment.lowerBound * pageSize, length: segment.count * pageSize)
        }
        return BenchRegion(address: memory.address, pages: input.layout.pages, owners: [memory])
    }

    private static func openForReading(_ path: FilePath) throws(BenchError) -> CInt {
        let descriptor = open(path.string, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .call("open \(path)", .current) }
        return descriptor
    }

    private static func read(_ path: FilePath, into destination: UnsafeMutableRawPointer, byteOffset: Int,
                             length: Int) throws(BenchError) {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        try readAll(descriptor, name: path, into: destination, byteOffset: byteOffset, length: length)
    }

    /// pread until `length` bytes are in or the file ends (a shorter file
    /// leaves zeros, as a mapping past its end would not: the data files
    /// have the mapping's size).
    private static func readAll(_ descriptor: CInt, name: FilePath, into destination: UnsafeMutableRawPointer,
                                byteOffset: Int, length: Int) throws(BenchError) {
        var done = 0
        while done < length {
            let count = pread(descriptor, destination + done, length - done, off_t(byteOffset + done))
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .call("pread of \(name)", .current) }
            if count == 0 { break }
            done += count
        }
    }
}
