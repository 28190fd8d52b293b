// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay

/// A `--segments-for DIFF=SPEC` argument of `restore` and `flatten`: the
/// pages one diff of the chain serves, instead of its data extents. SPEC is
/// what `apply --segments` takes (`0,4-6`, or `@FILE`); DIFF is the diff as
/// it is named among the command's arguments, and must not hold `=`.
struct LayerSegments {
    /// The diff, as named on the command line.
    var diff: String
    /// The pages it serves.
    var segments: SegmentList

    /// Parses `DIFF=SPEC` (split at the first `=`); a bad SPEC is a usage
    /// error naming the segment.
    static func parse(_ argument: String) throws(SegmentSpecification.Invalid) -> LayerSegments {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw SegmentSpecification.Invalid(description: "'\(argument)' is not DIFF=SPEC")
        }
        let diff = String(argument[..<equals])
        let segments = try SegmentSpecification.parse(String(argument[argument.index(after: equals)...]))
        return LayerSegments(diff: diff, segments: segments)
    }
}
