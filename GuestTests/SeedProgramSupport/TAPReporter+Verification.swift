// SPDX-License-Identifier: GPL-2.0-or-later
import GuestTestKit
import MemoryOverlay
import SampleFiles
import SystemPackage

/// The checks the seed programs make, each one TAP line.
extension TAPReporter {
    /// Records the check "every page of `mapping` shows the right file",
    /// verifying it now with `verifier`.
    @discardableResult
    public func verify(_ mapping: MappedFile, with verifier: OverlayVerifier, _ what: String) -> Bool {
        record(Result { () throws(Errno) in try verifier.verify(mapping) }, of: verifier, what)
    }

    /// Records a verification made elsewhere (by a thread, say): `ok`
    /// with what was compared, or `not ok` with the first wrong pages as
    /// diagnostics.
    @discardableResult
    public func record(_ verification: Result<OverlayVerifier.Report, Errno>, of verifier: OverlayVerifier,
                       _ what: String) -> Bool {
        switch verification {
        case .failure(let error):
            fail("\(what): cannot read the data files: \(error)")
            return false
        case .success(let result) where result.passed && result.pagesChecked > 0:
            let base = verifier.basePath.lastComponent?.string ?? "the base file"
            let overlay = verifier.overlayPath.lastComponent?.string ?? "the overlay file"
            let basePages = result.pagesChecked - result.overlayPages
            var counts = "\(result.pagesChecked) pages right: "
            counts += result.overlayPages == 0 ? "all from \(base)"
                : "\(result.overlayPages) from \(overlay), \(basePages) from \(base)"
            if result.pagesPastOverlayEnd > 0 {
                counts += "; \(result.pagesPastOverlayEnd) past the end of \(overlay) not read"
            }
            pass("\(what) (\(counts))")
            return true
        case .success(let result):
            fail("\(what): \(result.mismatchCount) of \(result.pagesChecked) pages wrong")
            for mismatch in result.mismatches { diagnostic("  \(mismatch)") }
            if result.mismatchCount > result.mismatches.count {
                diagnostic("  ... and \(result.mismatchCount - result.mismatches.count) more")
            }
            return false
        }
    }

    /// Records the check that an operation failed with `expected`: `FAIL`
    /// when it succeeded or failed otherwise.
    @discardableResult
    public func expectError<Success>(_ result: Result<Success, Errno>, _ expected: Errno, _ what: String) -> Bool {
        switch result {
        case .failure(let error) where error == expected:
            pass("\(what): \(expected.name)")
            return true
        case .failure(let error):
            fail("\(what): \(error), expected \(expected.name)")
            return false
        case .success:
            fail("\(what): succeeded, expected \(expected.name)")
            return false
        }
    }

    /// Cleans `overlay`'s id up: a passing check `what`, or a failing one
    /// with the refusal. Returns whether it passed. `what` comes first: it
    /// may name the overlay's id, which is gone once the overlay is.
    @discardableResult
    public func remove(_ what: String, _ overlay: consuming Overlay) -> Bool {
        do {
            try overlay.remove()
            pass(what)
            return true
        } catch {
            fail("\(what): \(error)")
            return false
        }
    }
}
