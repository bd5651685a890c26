import GapwatchProtocol
import Hummingbird

extension Dashboard {
    static let decisionRows = 100

    /// `/workflows?hours=`: per run expectation, expected runs against the decisions observed, per
    /// hour (the detector's workflow gaps), as a chart with the gap hours highlighted (a missed
    /// window that was re-run and verified reads as healed, not as a gap); then the latest
    /// decisions of every workflow.
    @Sendable func workflows(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let hours = try intParameter(request, "hours", default: 48, range: 1...168)
        let since = hourStart(now - Millis(hours - 1) * 3_600_000)
        let report = try app.workflowGaps(since: since, now: now)
        let expectations = app.config.detection.expectations.sorted { $0.name < $1.name }
        var html =
            "<p class=\"filters\">Last: "
            + [24, 48, 168].map { h in
                h == hours ? "<strong>\(h) h</strong>" : "<a href=\"\(DashboardHTML.link(["workflows"], [("hours", String(h))]))\">\(h) h</a>"
            }.joined(separator: " ") + "</p>"
        html += """
            <p class="legend"><span style="border:1px dashed #1d2330">expected runs</span><span style="background:#3fa66a;color:#fff">RUN</span>\
            <span style="background:#e5a13a">SKIP</span><span style="background:#c62828;color:#fff">FAIL</span>\
            <span style="background:#fbd3d2">hour with a gap</span><span style="background:#d3f0dc">missed, healed by a verified rerun</span></p>
            """
        if expectations.isEmpty {
            html += "<p class=\"empty\">No run expectations are configured (<code>expectations:</code> in the collector config).</p>"
        }
        for expectation in expectations {
            let rule = expectation.rule
            let rows = report.hours.filter { $0.expectation == expectation.name }
            let missed = rows.reduce(0) { $0 + $1.gaps }
            let healed = rows.reduce(0) { $0 + $1.healed }
            let open = rows.reduce(0) { $0 + $1.unhealed }
            let expected = rows.reduce(0) { $0 + $1.expected }
            html += "<h2>\(esc(expectation.name)) \(open > 0 ? badge("gap") : badge("ok"))</h2>"
            html += "<p>Workflow \(storyLink("workflow:\(rule.workflow)", text: rule.workflow)): a RUN in each window opening at "
            html +=
                "<code>\(esc(rule.windows.opens.description))</code>, open \(esc(Units.formatAge(rule.windows.durationMs))), judged \(esc(Units.formatAge(rule.graceMs))) after it closes"
            if let condition = rule.condition {
                html +=
                    ", only on dates where \(storyLink("dataset:\(condition.dataset)", text: condition.dataset)) has at least \(condition.minCount) row(s)"
            }
            html += ". In these \(hours) h: \(expected) run(s) expected, \(missed) missed, \(healed) healed (re-run and verified), "
            html += "<strong>\(open) gap(s)</strong> still open.</p>"
            html += hourChart(rows, since: since, hours: hours, now: now)
            let gapHours = rows.filter { $0.gaps > 0 }.sorted { $0.hour > $1.hour }
            if !gapHours.isEmpty {
                html += table(
                    ["hour", "expected", "missed", "healed", "open gaps", "RUN", "SKIP", "FAIL", "reasons"],
                    gapHours.prefix(50).map { h in
                        [
                            esc(dashTime(h.hour)), "\(h.expected)", "\(h.gaps)", "\(h.healed)",
                            h.unhealed > 0 ? "<strong>\(h.unhealed)</strong>" : "0",
                            "\(h.runs)", "\(h.skips)", "\(h.fails)", esc(h.reasons.joined(separator: "; ")),
                        ]
                    }, empty: "")
                html += leftOut(
                    shown: min(50, gapHours.count), total: gapHours.count, what: "hours with a missed window", how: "the latest are listed")
            }
        }

        html += "<h2>Latest decisions</h2>"
        let decisions = try app.latestWorkflowDecisions(since: since, limit: Self.decisionRows + 1)
        html += table(
            ["observed", "workflow", "decision", "reason", "agent"],
            decisions.prefix(Self.decisionRows).map { d in
                [
                    dashAgo(d.at, now: now), storyLink(d.subject, text: String(d.subject.dropFirst("workflow:".count))), badge(d.decision),
                    esc(d.reason ?? ""), esc(d.agentID),
                ]
            }, empty: "No workflow decision was observed in these \(hours) hours.")
        if decisions.count > Self.decisionRows {
            html += "<p class=\"more\">Older decisions are not shown: <code>gapwatch timeline --kind decision</code> lists them all.</p>"
        }
        return Page(title: "Workflow execution health", body: html)
    }

    /// One bar group per hour: the expected runs as a dashed outline, the decisions stacked (RUN,
    /// SKIP, FAIL), hours with an open gap shaded red and hours whose missed windows were all
    /// healed shaded green. Each hour's numbers are in its tooltip.
    func hourChart(_ rows: [WorkflowHour], since: Millis, hours: Int, now: Millis) -> String {
        let byHour = Dictionary(rows.map { ($0.hour, $0) }, uniquingKeysWith: { a, _ in a })
        let slot = max(4, min(24, 1100 / hours))
        let left = 34
        let top = 10
        let plot = 110
        let width = left + slot * hours + 10
        let height = top + plot + 24
        let peak = max(1, rows.map { max($0.expected, $0.runs + $0.skips + $0.fails) }.max() ?? 1)
        func y(_ n: Int) -> Int { top + plot - n * plot / peak }
        var svg =
            "<svg class=\"chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"runs per hour\">"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(width - 10)\" y2=\"\(top + plot)\" stroke=\"#8a93a6\"/>"
        svg +=
            "<text x=\"\(left - 4)\" y=\"\(top + 8)\" text-anchor=\"end\">\(peak)</text><text x=\"\(left - 4)\" y=\"\(top + plot)\" text-anchor=\"end\">0</text>"
        let labelEvery = max(1, hours / 8)
        for i in 0..<hours {
            let hour = since + Millis(i) * 3_600_000
            let x = left + i * slot
            let h = byHour[hour]
            if let h {
                var tip =
                    "\(dashTime(h.hour)): expected \(h.expected), missed \(h.gaps), healed \(h.healed), RUN \(h.runs), SKIP \(h.skips), FAIL \(h.fails)"
                if !h.reasons.isEmpty { tip += " — " + h.reasons.joined(separator: "; ") }
                svg += "<g><title>\(esc(tip))</title>"
                if h.gaps > 0 {
                    svg += "<rect x=\"\(x)\" y=\"\(top)\" width=\"\(slot)\" height=\"\(plot)\" fill=\"\(h.unhealed > 0 ? "#fbd3d2" : "#d3f0dc")\"/>"
                }
                var base = 0
                for (n, colour) in [(h.runs, "#3fa66a"), (h.skips, "#e5a13a"), (h.fails, "#c62828")] where n > 0 {
                    svg +=
                        "<rect x=\"\(x + 1)\" y=\"\(y(base + n))\" width=\"\(max(1, slot - 2))\" height=\"\(y(base) - y(base + n))\" fill=\"\(colour)\"/>"
                    base += n
                }
                if h.expected > 0 {
                    svg +=
                        "<rect x=\"\(x + 1)\" y=\"\(y(h.expected))\" width=\"\(max(1, slot - 2))\" height=\"\(y(0) - y(h.expected))\" fill=\"none\" stroke=\"#1d2330\" stroke-dasharray=\"3 2\"/>"
                }
                svg += "</g>"
            }
            if i % labelEvery == 0 {
                let text = String(TimeParsing.format(hour).dropFirst(11).prefix(5))
                svg += "<text x=\"\(x)\" y=\"\(top + plot + 16)\">\(esc(text))</text>"
            }
        }
        return svg + "</svg>"
    }

    /// The start of the UTC hour holding `t`.
    func hourStart(_ t: Millis) -> Millis { t - ((t % 3_600_000) + 3_600_000) % 3_600_000 }

    /// A whole-number query parameter within `range`; a bad one is a 400 page.
    func intParameter(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw Refusal(status: .badRequest, message: "\(name): '\(text)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return n
    }
}
