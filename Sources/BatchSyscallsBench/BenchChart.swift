// SPDX-License-Identifier: GPL-2.0-or-later
import Glibc

/// The report's chart: touch time per page by method, one group of bars
/// per fragmentation and cache state, as SVG. The scale is logarithmic:
/// the methods differ by orders of magnitude (merge has done its work
/// before the first touch).
struct BenchChart {
    let results: BenchRunner.Results

    private static let colors: [BenchMethod: String] = [
        .floor: "#7f7f7f", .overlay: "#1f77b4", .mapFixed: "#ff7f0e", .userfaultfd: "#d62728", .merge: "#2ca02c",
        .eager: "#9467bd",
    ]

    /// The methods drawn: eager only when it was measured (it runs only when named).
    private var methods: [BenchMethod] {
        let measured = groups.contains { $0.bars.contains { $0.method == .eager } }
        return measured ? BenchMethod.allCases : BenchMethod.defaultCases
    }

    private struct Bar {
        var method: BenchMethod
        var value: Double
    }

    private struct Group {
        var label: String
        var detail: String
        var bars: [Bar]
    }

    private var groups: [Group] {
        let lookup = BenchLookup(results)
        var groups: [Group] = []
        for cache in [BenchCache.warm, .cold] {
            for fragmentation in lookup.fragmentations {
                var bars: [Bar] = []
                for method in BenchMethod.allCases {
                    guard let value = lookup.touch(method, fragmentation: fragmentation, cache: cache)?
                        .touchNanosecondsPerPage, value > 0 else { continue }
                    bars.append(Bar(method: method, value: value))
                }
                if !bars.isEmpty { groups.append(Group(label: "N=\(fragmentation)", detail: cache.rawValue, bars: bars)) }
            }
        }
        return groups
    }

    /// A short label: `694`, `3.6k`, `45k`, `90.5`.
    static func compact(_ value: Double) -> String {
        switch value {
        case 10_000...: "\(Int((value / 1000).rounded()))k"
        case 1_000...: BenchFormat.fixed(value / 1000, digits: 1).replacingTrailingZero + "k"
        case 100...: "\(Int(value.rounded()))"
        case 1...: BenchFormat.fixed(value, digits: 1).replacingTrailingZero
        default: BenchFormat.fixed(value, digits: 2)
        }
    }

    /// The SVG document; nil when there is nothing to draw.
    var svg: String? {
        let groups = self.groups
        let values = groups.flatMap { $0.bars.map(\.value) }
        guard let smallest = values.min(), let largest = values.max() else { return nil }
        let lowDecade = Int(Glibc.floor(log10(smallest)))
        let highDecade = max(Int(Glibc.ceil(log10(largest))), lowDecade + 1)

        let barWidth = 22.0, barGap = 2.0, groupGap = 26.0
        let left = 70.0, right = 20.0, top = 50.0, plotHeight = 300.0, bottom = 60.0, legendHeight = 24.0
        let groupWidth = Double(methods.count) * (barWidth + barGap)
        let width = left + Double(groups.count) * (groupWidth + groupGap) + right
        let height = top + plotHeight + bottom + legendHeight
        func y(_ value: Double) -> Double {
            let fraction = (log10(value) - Double(lowDecade)) / Double(highDecade - lowDecade)
            return top + plotHeight * (1 - fraction)
        }
        func number(_ value: Double) -> String { BenchFormat.fixed(value, digits: 1) }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(number(width))" height="\(number(height))" \
            viewBox="0 0 \(number(width)) \(number(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(number(width / 2))" y="20" text-anchor="middle" font-size="14">\
            Touch time per page by method (median, ns, log scale)</text>

            """
        // Grid lines at each decade, with labels.
        for decade in lowDecade...highDecade {
            var value = 1.0
            for _ in 0..<abs(decade) { value = decade < 0 ? value / 10 : value * 10 }
            let lineY = y(value)
            out += """
                <line x1="\(number(left))" y1="\(number(lineY))" x2="\(number(width - right))" y2="\(number(lineY))" \
                stroke="#dddddd"/>
                <text x="\(number(left - 6))" y="\(number(lineY + 4))" text-anchor="end">\
                \(Self.compact(value))</text>

                """
        }
        out += """
            <text x="16" y="\(number(top + plotHeight / 2))" transform="rotate(-90 16 \(number(top + plotHeight / 2)))" \
            text-anchor="middle">ns per page</text>

            """
        for (groupIndex, group) in groups.enumerated() {
            let groupX = left + groupGap / 2 + Double(groupIndex) * (groupWidth + groupGap)
            for bar in group.bars {
                let slot = Double(methods.firstIndex(of: bar.method) ?? 0)
                let x = groupX + slot * (barWidth + barGap)
                let barTop = y(bar.value)
                let color = Self.colors[bar.method] ?? "black"
                out += """
                    <rect x="\(number(x))" y="\(number(barTop))" width="\(number(barWidth))" \
                    height="\(number(top + plotHeight - barTop))" fill="\(color)">\
                    <title>\(bar.method.rawValue) \(group.label) \(group.detail): \
                    \(BenchFormat.perPage(bar.value)) ns/page</title></rect>
                    <text x="\(number(x + barWidth / 2))" y="\(number(barTop - 3))" text-anchor="middle" \
                    font-size="9">\(Self.compact(bar.value))</text>

                    """
            }
            let centre = groupX + groupWidth / 2
            out += """
                <text x="\(number(centre))" y="\(number(top + plotHeight + 16))" text-anchor="middle">\(group.label)</text>
                <text x="\(number(centre))" y="\(number(top + plotHeight + 30))" text-anchor="middle" \
                fill="#555555">\(group.detail)</text>

                """
        }
        out += """
            <line x1="\(number(left))" y1="\(number(top + plotHeight))" x2="\(number(width - right))" \
            y2="\(number(top + plotHeight))" stroke="black"/>

            """
        // Legend, one entry per method.
        var legendX = left
        let legendY = top + plotHeight + bottom
        for method in methods {
            out += """
                <rect x="\(number(legendX))" y="\(number(legendY - 10))" width="12" height="12" \
                fill="\(Self.colors[method] ?? "black")"/>
                <text x="\(number(legendX + 16))" y="\(number(legendY))">\(method.rawValue)</text>

                """
            legendX += 26 + Double(method.rawValue.count) * 7
        }
        out += "</svg>\n"
        return out
    }
}

private extension String {
    /// `10.0` as `10`: axis labels at whole decades.
    var replacingTrailingZero: String { hasSuffix(".0") ? String(dropLast(2)) : self }
}
