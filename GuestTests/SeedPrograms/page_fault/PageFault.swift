// SPDX-License-Identifier: GPL-2.0-or-later
// page_fault: the seed's example request, checked page by page.
import Glibc
import SeedProgramSupport

/// Lays the seed's example segments of overlay.bin over a private mapping
/// of base.bin and checks every page, with the page cache as found and
/// (root) cold.
struct PageFault {
    let run: SeedRun
    let segments = SeedSegments.example
    var report: TAPReporter { run.report }
    var verifier: OverlayVerifier { run.data.verifier(segments: segments) }

    func main() -> Never {
        cachedRun()
        coldRun()
        run.finish()
    }

    /// The overlay over a mapping made now, pages read first through the
    /// verifier (whose pread of each page precedes the mapping's first
    /// touch of it), then cleanup.
    func cachedRun() {
        let label = "page cache as found"
        guard let overlay = makeOverlay(label) else { return }
        report.verify(overlay.base, with: verifier, "\(label): every page shows the right file")

        // The module replaces one mapping, not the file: a second private
        // mapping of base.bin must still show base.bin only.
        do {
            let other = try run.data.map(.base)
            report.verify(other, with: run.data.plainVerifier(), "another mapping of base.bin still shows base.bin")
        } catch {
            report.fail("another mapping of base.bin: mmap: \(error)")
        }

        // Cleanup releases the id; the mapping keeps showing the overlay
        // until it is unmapped.
        let mapping = overlay.base
        if report.remove("cleanup of id \(overlay.id)", overlay) {
            report.verify(mapping, with: verifier, "after cleanup the mapping still shows the overlay")
        }
    }

    /// A fresh overlay whose layers and own pages are all out of the page
    /// cache when its pages are first touched: each fault must read the
    /// right file from disk.
    func coldRun() {
        let label = "cold cache"
        guard run.canDropCaches else {
            report.skip("\(label): first touch after drop_caches", because: PageCache.cannotDropReason)
            return
        }
        guard let overlay = makeOverlay(label) else { return }
        do {
            try PageCache.drop()
        } catch {
            report.fail("\(label): drop_caches: \(error)")
            return
        }
        // Touch every page before the verifier reads the files: its pread
        // would bring the layer pages back into the page cache first.
        overlay.base.touchEveryPage()
        report.verify(overlay.base, with: verifier, "\(label): after drop_caches, every page shows the right file")
        report.remove("\(label): cleanup of id \(overlay.id)", overlay)
    }

    /// Maps base.bin and overlay.bin and makes the request; a check line
    /// either way.
    func makeOverlay(_ label: String) -> Overlay? {
        do {
            let base = try run.data.map(.base)
            let layer = try run.data.map(.overlay)
            let overlay = try run.device.overlay(base: base, layer: layer, segments: segments)
            report.pass("\(label): overlay of segments \(SeedSegments.describe(segments)) over base.bin "
                        + "(\(base.pageCount) pages), id \(overlay.id)")
            return overlay
        } catch {
            report.fail("\(label): overlay of segments \(SeedSegments.describe(segments)) over base.bin: "
                        + "\(error)")
            return nil
        }
    }
}

/// `page_fault`: its options and help; the checks are ``PageFault``'s.
@main
struct PageFaultCommand: SeedProgram {
    static let abstract = "The seed's example request, checked page by page."
    static let details = """
        Maps base.bin (MAP_PRIVATE) and overlay.bin, lays the seed's example \
        segments of overlay.bin ({0}, {4-6}, {20}, {21}, {30-70}, {80-140}) over \
        the base mapping with one ioctl on /dev/batch_syscalls, and checks that \
        every page shows the right file, compared with the files read by pread: \
        first with the page cache as found, then (root only) on a fresh \
        mapping whose pages are first touched after \
        `echo 3 > /proc/sys/vm/drop_caches`. Also checks that another mapping \
        of base.bin is unaffected and that cleanup works. Needs the module \
        loaded and root (the device is mode 0600).
        """

    @OptionGroup var common: SeedOptions

    func check(_ run: SeedRun) -> Never { PageFault(run: run).main() }
}
