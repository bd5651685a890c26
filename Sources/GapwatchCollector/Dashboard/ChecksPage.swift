import GapwatchProtocol
import GapwatchRules
import Hummingbird

extension Dashboard {
    /// Most checks listed (down ones first); a fleet's liveness checks can be many.
    static let checkRows = 1000

    /// `/checks`: every check with its kind, what it expects in words (the same text as
    /// `gapwatch checks`), its state, last signal and next due time.
    @Sendable func checks(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let checks = try app.checks(now: now)
        let rank: [String: Int] = [CheckState.down.rawValue: 0, CheckState.new.rawValue: 2, CheckState.up.rawValue: 3, CheckState.paused.rawValue: 4]
        let sorted = checks.sorted { a, b in
            let (ra, rb) = (a.late ? 1 : rank[a.state] ?? 1, b.late ? 1 : rank[b.state] ?? 1)
            return ra != rb ? ra < rb : (a.kind, a.name) < (b.kind, b.name)
        }
        var counts: [String: Int] = [:]
        for check in checks { counts[check.state, default: 0] += 1 }
        var html = ""
        if !counts.isEmpty {
            html += "<p>" + counts.sorted { $0.key < $1.key }.map { "\(badge($0.key)) \($0.value)" }.joined(separator: " · ") + "</p>"
        }
        html += table(
            ["check", "kind", "expects", "state", "since", "last signal", "next due", "reason"],
            sorted.prefix(Self.checkRows).map { c in
                [
                    storyLink(Self.checkSubject(c), text: c.name), esc(c.kind), esc(c.expects),
                    badge(c.state) + (c.late ? " <span class=\"hint\">late</span>" : ""),
                    dashAgo(c.changedAt, now: now), dashAgo(c.lastPingAt, now: now), dashAgo(c.nextDue, now: now), esc(c.reason),
                ]
            }, empty: "No checks: declare checks:, expectations: or rules in the collector config, or start an agent.")
        html += leftOut(shown: min(sorted.count, Self.checkRows), total: sorted.count, what: "checks", how: "down and late ones are listed first")
        html +=
            "<p class=\"hint\">States: new (no signal yet), up, down, paused; late: past due but within grace. "
            + "Last signal: the last ping of a heartbeat check, or anything from the agent of a liveness check.</p>"
        return Page(title: "Checks", body: html)
    }

    /// The subject whose story tells what a check watched.
    static func checkSubject(_ check: CheckInfo) -> String {
        switch check.kind {
        case "liveness": check.name
        case "expectation": "expectation:\(check.name)"
        default: "check:\(check.name)"
        }
    }
}
