// swift-tools-version:6.1
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Host micro-benchmarks of the overlay logic (kmod/swift/Logic) with
// package-benchmark: `cd Benchmarks && swift package benchmark`. A package
// of its own, so that the main build and `swift test` never fetch
// package-benchmark.
import PackageDescription

let package = Package(
    name: "batch-syscalls-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The benchmarks and the logic in one module: the logic's types are
        // internal (the kernel build has no use for `public`), and the
        // files are the kernel's own, through the symbolic links
        // Logic -> kmod/swift/Logic, Host -> kmod/swift/Host and
        // SplitMix64.swift -> Sources/SampleFiles (SwiftPM
        // takes no target path outside the package).
        .executableTarget(
            name: "SegmentTable",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/SegmentTable",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
