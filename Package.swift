// swift-tools-version:6.1
// SPDX-License-Identifier: GPL-2.0-or-later
import PackageDescription

let package = Package(
    name: "batch-syscalls",
    products: [
        .executable(name: "overlay-tests", targets: ["OverlayGuestTests"]),
    ],
    targets: [
        // The module's pure overlay logic, compiled for the host from the same
        // files the kernel build compiles (kmod/swift/Logic), with Host/
        // supplying what the kernel glue supplies in the module.
        .target(
            name: "OverlayLogic",
            path: "kmod/swift",
            exclude: ["Kernel"],
            sources: ["Logic", "Host"]
        ),
        .testTarget(
            name: "OverlayLogicTests",
            dependencies: ["OverlayLogic"]
        ),
        // The ABI header (include/uapi) as a C module.
        .target(name: "CBatchSyscalls"),
        // The end-to-end tests that run in the QEMU guest (TAP output).
        .executableTarget(
            name: "OverlayGuestTests",
            dependencies: ["CBatchSyscalls"]
        ),
    ]
)
