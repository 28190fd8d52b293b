// swift-tools-version:6.1
// SPDX-License-Identifier: GPL-2.0-or-later
import Foundation
import PackageDescription

/// The seed's test programs, each a small executable over MemoryOverlay:
/// one directory each under GuestTests/SeedPrograms/, the one list of them
/// (the Makefile, vm/test and, through it, vm/guest-suite read it too).
let seedPrograms = ((try? FileManager.default.contentsOfDirectory(
    atPath: Context.packageDirectory + "/GuestTests/SeedPrograms")) ?? []).sorted()

let package = Package(
    name: "batch-syscalls",
    products: [
        .library(name: "MemoryOverlay", targets: ["MemoryOverlay"]),
        .executable(name: "batch-syscalls", targets: ["BatchSyscallsTool"]),
        .executable(name: "batch-syscalls-bench", targets: ["BatchSyscallsBench"]),
        .executable(name: "overlay-tests", targets: ["OverlayGuestTests"]),
        .executable(name: "swift-testing-tap", targets: ["SwiftTestingTAP"]),
    ] + seedPrograms.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The module's pure overlay logic, compiled for the host from the same
        // files the kernel build compiles (kmod/swift/Logic), with Host/
        // supplying what the kernel glue supplies in the module.
        .target(
            name: "OverlayLogic",
            path: "kmod/swift",
            exclude: ["Bindings", "Overlay"],
            sources: ["Logic", "Host"]
        ),
        .testTarget(
            name: "OverlayLogicTests",
            dependencies: ["OverlayLogic", "SampleFiles"]
        ),
        // The ABI header (include/uapi) as a C module.
        .target(name: "CBatchSyscalls"),
        // The userspace library: safe handles for mappings, the device and
        // overlays.
        .target(
            name: "MemoryOverlay",
            dependencies: ["CBatchSyscalls", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // What the tests send that the library refuses to: requests as the
        // ABI lays them out holding anything, mappings unmapped by hand.
        .target(
            name: "MemoryOverlayTesting",
            dependencies: ["CBatchSyscalls", "MemoryOverlay", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(
            name: "MemoryOverlayTests",
            dependencies: ["GuestTestKit", "MemoryOverlay", "MemoryOverlayTesting", "SampleFiles"]
        ),
        // The sample files overlays are tried on (the seed's files, snapshot
        // chains): names, contents, writing them, checking a mapping.
        .target(
            name: "SampleFiles",
            dependencies: ["MemoryOverlay", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The `batch-syscalls` command-line tool.
        .executableTarget(
            name: "BatchSyscallsTool",
            dependencies: [
                "MemoryOverlay", "SampleFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // `batch-syscalls-bench`: the module against map-fixed, userfaultfd
        // and copying; its C shims (CPU affinity, malloc_trim) are its own,
        // its child processes, clock and userfaultfd the guest kit's.
        .target(name: "CBatchSyscallsBench"),
        .executableTarget(
            name: "BatchSyscallsBench",
            dependencies: [
                "CBatchSyscallsBench", "CGuestTestKit", "GuestTestKit", "MemoryOverlay", "SampleFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The bench's pure parts (layouts, orders, tables) on the host.
        .testTarget(
            name: "BatchSyscallsBenchTests",
            dependencies: ["BatchSyscallsBench", "MemoryOverlay", "SampleFiles"]
        ),

        // The test programs, under GuestTests/: nothing there ships.
        // The kit the guest programs share (the tests and the bench): the
        // TAP reporter, child processes with timeouts, the clock, racing
        // threads, pipes as events, userfaultfd.
        .target(
            name: "GuestTestKit",
            dependencies: ["CGuestTestKit", "MemoryOverlay", .product(name: "SystemPackage", package: "swift-system")],
            path: "GuestTests/GuestTestKit"
        ),
        // The C the guest programs need (variadic calls, the fault-tolerant
        // copy, userfaultfd, the FUSE protocol).
        .target(name: "CGuestTestKit", path: "GuestTests/CGuestTestKit"),
        // What the seed programs share: their command, options, sample
        // files and checks.
        .target(
            name: "SeedProgramSupport",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "GuestTestKit", "MemoryOverlay", "MemoryOverlayTesting", "SampleFiles",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "GuestTests/SeedProgramSupport"
        ),
        // The end-to-end tests that run in the QEMU guest (TAP output).
        .executableTarget(
            name: "OverlayGuestTests",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "CBatchSyscalls", "CGuestTestKit", "GuestTestKit", "MemoryOverlay", "MemoryOverlayTesting",
                "SampleFiles",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "GuestTests/OverlayGuestTests"
        ),
        // The library's Swift Testing event stream as TAP (make test, host
        // and guest).
        .executableTarget(
            name: "SwiftTestingTAP",
            dependencies: [
                "GuestTestKit", "MemoryOverlay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "GuestTests/SwiftTestingTAP"
        ),
    ] + seedPrograms.map {
        .executableTarget(name: $0, dependencies: ["SeedProgramSupport"], path: "GuestTests/SeedPrograms/\($0)")
    }
)
