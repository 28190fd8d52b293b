// SPDX-License-Identifier: GPL-2.0-or-later

// Each seed program depends on this target alone (Package.swift), so the
// libraries its code names (ParsableCommand, MappedFile, OverlayVerifier,
// Errno, FilePath, TAPReporter, ThreadGroup) come through here: one
// `import SeedProgramSupport` is enough.
@_exported import ArgumentParser
@_exported import GuestTestKit
@_exported import MemoryOverlay
@_exported import SampleFiles
@_exported import SystemPackage
