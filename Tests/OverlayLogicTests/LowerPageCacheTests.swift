// SPDX-License-Identifier: GPL-2.0-or-later
import Testing
@testable import OverlayLogic

/// Where a lower stack is served from, and whether its page cache may take
/// large folios.
@Suite struct LowerPageCacheTests {
    let ext4: UInt64 = 0xEF53

    @Test func theBaseAloneOnABlockFilesystemIsServedFromItsOwnPageCache() {
        #expect(LowerPageCache.isBaseFile(layerCount: 1, segmentCount: 0, filesystemMagic: ext4,
                                          baseHasLargeFolios: false, underOwnPages: true))
        #expect(LowerPageCache.isBaseFile(layerCount: 1, segmentCount: 0, filesystemMagic: ext4,
                                          baseHasLargeFolios: true, underOwnPages: false))
        // A composed stack, or a filesystem that reads through the open file.
        #expect(!LowerPageCache.isBaseFile(layerCount: 2, segmentCount: 3, filesystemMagic: ext4,
                                           baseHasLargeFolios: false, underOwnPages: false))
        #expect(!LowerPageCache.isBaseFile(layerCount: 1, segmentCount: 0, filesystemMagic: 0x6573_5546,
                                           baseHasLargeFolios: false, underOwnPages: false))
    }

    /// A large folio of the base would be mapped whole over own pages not
    /// yet copied (6.18 and later): such stacks get a lower inode.
    @Test func notUnderOwnPagesWhenTheBaseHasLargeFolios() {
        #expect(!LowerPageCache.isBaseFile(layerCount: 1, segmentCount: 0, filesystemMagic: ext4,
                                           baseHasLargeFolios: true, underOwnPages: true))
    }

    @Test func largeFoliosOnlyWithoutOwnPagesAndWithEveryPageInsideItsLayer() {
        #expect(!LowerPageCache.singlePageFolios(underOwnPages: false, everyPageInsideItsLayer: true))
        #expect(LowerPageCache.singlePageFolios(underOwnPages: true, everyPageInsideItsLayer: true))
        #expect(LowerPageCache.singlePageFolios(underOwnPages: false, everyPageInsideItsLayer: false))
        #expect(LowerPageCache.singlePageFolios(underOwnPages: true, everyPageInsideItsLayer: false))
    }
}
