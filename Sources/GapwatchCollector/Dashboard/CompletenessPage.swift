import GapwatchProtocol
import Hummingbird

extension Dashboard {
    static let staleRows = 200

    /// `/completeness?days=`: each completeness rule (source → derived) by date, each cell coloured
    /// by the derived/source ratio and its state, linking to that partition's story; then the
    /// stale items of every stale_items rule.
    @Sendable func completeness(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let days = try intParameter(request, "days", default: 7, range: 1...31)
        let report = try app.gaps(days: days, now: now)
        var html =
            "<p class=\"filters\">Last: "
            + [7, 14, 31].map { d in
                d == days ? "<strong>\(d) days</strong>" : "<a href=\"\(DashboardHTML.link(["completeness"], [("days", String(d))]))\">\(d) days</a>"
            }.joined(separator: " ") + "</p>"
        html += """
            <p class="legend"><span class="c-ok">complete</span><span class="c-ok-part">at or above min ratio</span>\
            <span class="c-gap">gap</span><span class="c-healing">healing</span><span class="c-escalated">escalated</span>\
            <span class="c-none">no rows</span><span class="c-notdue">not due</span><span class="c-settling">settling</span> \
            Each cell shows derived ÷ source rows and links to that partition's story. A partition is judged only once it is due: \
            its day (or hour) has ended in the rule's time zone, plus due_after.</p>
            """
        if report.checks.isEmpty {
            html += "<p class=\"empty\">No completeness rules are configured (<code>completeness:</code> in the collector config).</p>"
        } else {
            // Rules may use different time zones, so their dates can differ: one column per date seen.
            let daily = report.checks.filter { $0.partition != "hour" }
            let dates = Set(daily.flatMap { $0.days.map(\.date) }).sorted()
            if !daily.isEmpty {
                html += "<table class=\"heat\"><thead><tr><th>rule (derived ← source)</th>"
                for date in dates { html += "<th>\(esc(String(date.dropFirst(5))))</th>" }
                html += "</tr></thead><tbody>"
                for check in daily {
                    let byDate = Dictionary(check.days.map { ($0.date, $0) }, uniquingKeysWith: { a, _ in a })
                    html += "<tr>" + ruleCell(check)
                    for date in dates {
                        guard let day = byDate[date] else {
                            html += "<td></td>"
                            continue
                        }
                        html += heatCell(day, check: check)
                    }
                    html += "</tr>"
                }
                html += "</tbody></table>"
            }
            // An hourly rule is a grid of its own: a row per date, a column per hour.
            for check in report.checks where check.partition == "hour" {
                let byDay = Dictionary(grouping: check.days) { String($0.date.prefix(10)) }
                html += "<table class=\"heat\"><thead><tr>" + ruleCell(check, header: true)
                for hour in 0..<24 { html += "<th>\(hour < 10 ? "0" : "")\(hour)</th>" }
                html += "</tr></thead><tbody>"
                for day in byDay.keys.sorted() {
                    let byHour = Dictionary(byDay[day]!.map { (String($0.date.suffix(2)), $0) }, uniquingKeysWith: { a, _ in a })
                    html += "<tr><td class=\"name mono\">\(esc(day))</td>"
                    for hour in 0..<24 {
                        let key = (hour < 10 ? "0" : "") + String(hour)
                        html += byHour[key].map { heatCell($0, check: check) } ?? "<td></td>"
                    }
                    html += "</tr>"
                }
                html += "</tbody></table>"
            }
            let gaps = report.checks.flatMap { check in check.days.filter { ["gap", "healing", "escalated"].contains($0.state) }.map { (check, $0) } }
            if !gaps.isEmpty {
                html += "<h2>Partitions with a gap</h2>"
                html += table(
                    ["rule", "partition", "source", "derived", "missing", "ratio", "state", "action"],
                    gaps.map { check, day in
                        [
                            esc(check.name), "<a href=\"\(partitionStoryLink(check, date: day.date))\">\(esc(day.date))</a>",
                            day.sourceCount.map { "\($0)" } ?? "–", day.derivedCount.map { "\($0)" } ?? "–", "\(day.gap)",
                            esc(day.ratio.map(percent) ?? "–"),
                            badge(day.state), day.actionID.map(actionLink) ?? "",
                        ]
                    }, empty: "")
            }
        }

        html += "<h2>Stale items</h2>"
        if app.config.remediation.staleItems.isEmpty {
            html += "<p class=\"empty\">No stale_items rules are configured.</p>"
        } else {
            let stale = try app.staleItems(days: 3, now: now)
            html += table(
                ["rule", "item", "status", "reference time", "deadline", "last seen"],
                stale.prefix(Self.staleRows).map { s in
                    [
                        esc(s.check), storyLink("item:\(s.itemKind)/\(s.itemID)"), badge(s.status), esc(dashTime(s.referenceTime)),
                        dashAgo(s.deadline, now: now), dashAgo(s.lastSeen, now: now),
                    ]
                }, empty: "No item is past its deadline without a final status (last 3 days).")
            html += leftOut(shown: min(stale.count, Self.staleRows), total: stale.count, what: "stale items", how: "the oldest deadlines are listed")
        }
        return Page(title: "Data completeness", body: html)
    }

    /// The first cell of a rule's row: its name, datasets and minimum ratio.
    func ruleCell(_ check: GapReport.Check, header: Bool = false) -> String {
        let tag = header ? "th" : "td"
        return
            "<\(tag) class=\"name\"><strong>\(esc(check.name))</strong><br><span class=\"mono\">\(esc(check.derived)) ← \(esc(check.source))</span><br>"
            + "<span class=\"hint\">min ratio \(esc(percent(check.minRatio)))\(check.partition == "hour" ? ", hourly" : "")</span></\(tag)>"
    }

    func heatCell(_ day: GapReport.Day, check: GapReport.Check) -> String {
        let cls: String
        switch day.state {
        case "gap": cls = "c-gap"
        case "healing": cls = "c-healing"
        case "escalated": cls = "c-escalated"
        case "not_due": cls = "c-notdue"
        case "settling": cls = "c-settling"
        case "no_rows": cls = "c-none"
        default: cls = (day.ratio ?? 1) >= 1 ? "c-ok" : "c-ok-part"
        }
        let text: String
        switch day.state {
        case "not_due": text = "not due"
        case "no_rows": text = "no rows"
        default: text = day.ratio.map(percent) ?? (day.state == "gap" ? "missing" : "–")
        }
        var tip =
            "\(check.name) \(day.date): source \(day.sourceCount.map(String.init) ?? "none"), derived \(day.derivedCount.map(String.init) ?? "none")"
        tip += ", \(day.gap) missing, \(day.state.replacingOccurrences(of: "_", with: " "))" + (day.actionID.map { ", action \($0)" } ?? "")
        if day.state == "not_due" { tip += " (due \(dashTime(day.dueAt)))" }
        return "<td class=\"\(cls)\"><a href=\"\(partitionStoryLink(check, date: day.date))\" title=\"\(esc(tip))\">\(esc(text))</a></td>"
    }

    /// The story of one date partition: both datasets' counts for it, and the incidents and
    /// actions about them.
    func partitionStoryLink(_ check: GapReport.Check, date: String) -> String {
        DashboardHTML.link(["story"], [("subject", "dataset:\(check.derived)"), ("subject", "dataset:\(check.source)"), ("partition", date)])
    }

    func percent(_ ratio: Double) -> String { Units.formatPercent(ratio) }
}
