// SPDX-License-Identifier: GPL-2.0-or-later

// Each seed program depends on this target alone (Package.swift), so the
// libraries its code names (MappedFile, OverlayVerifier, Errno, FilePath,
// ThreadGroup) come through here: one `import SeedProgramSupport` is enough.
@_exported import GuestTestSupport
@_exported import MemoryOverlay
@_exported import SampleFiles
@_exported import SystemPackage
