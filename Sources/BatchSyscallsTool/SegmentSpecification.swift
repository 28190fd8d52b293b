// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import SystemPackage

/// The `--segments` argument of `apply`: page ranges written out
/// (`0,4-6,20-21`) or `@FILE`, a file with one range per line where blank
/// lines and `#` comments are allowed.
///
/// Parsed while the arguments are parsed, so a bad specification is a usage
/// error (exit status 64) and nothing has been mapped or asked of the module.
enum SegmentSpecification {
    /// Why a specification was refused: ArgumentParser shows the
    /// `description` after "The value '...' is invalid for '--segments'".
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// The segments `argument` specifies.
    static func parse(_ argument: String) throws(Invalid) -> SegmentList {
        guard argument.hasPrefix("@") else {
            do throws(SegmentError) {
                return try SegmentList(parsing: argument)
            } catch {
                throw Invalid(description: error.description)
            }
        }
        let path = FilePath(String(argument.dropFirst()))
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw Invalid(description: "read \(path): \(error.nameAndMessage)")
        }
        return try parse(fileText: text, name: path.string)
    }

    /// The segments of a segment file's text; `name` says where errors are.
    static func parse(fileText text: String, name: String) throws(Invalid) -> SegmentList {
        // SegmentList parses the items of all lines at once (one request,
        // one check for its size); the line of each item is kept so that an
        // error can point at the line to fix, not only at the item number.
        var items: [Substring] = []
        var lineOfItem: [Int] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.prefix { $0 != "#" }
            for item in content.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\r" }) {
                items.append(item)
                lineOfItem.append(index + 1)
            }
        }
        do throws(SegmentError) {
            return try SegmentList(parsing: items.joined(separator: ","))
        } catch {
            switch error {
            case .endBeforeStart(let index, _, _), .negativePage(let index, _), .unreadable(let index, _):
                throw Invalid(description: "\(name) line \(lineOfItem[index]): \(error)")
            default:
                throw Invalid(description: "\(name): \(error)")
            }
        }
    }
}
