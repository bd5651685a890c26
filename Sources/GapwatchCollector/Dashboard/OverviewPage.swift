import GapwatchProtocol
import GapwatchRules
import Hummingbird

extension Dashboard {
    /// Most agents listed on the front page (down ones first).
    static let overviewAgentRows = 200
    /// Most refused callers listed on the front page (most recently seen first).
    static let overviewRejectedRows = 50

    /// `/`: the whole system on one screen, from `app.overview(now:)`.
    @Sendable func overview(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let o = try app.overview(now: now)
        let rejected = try app.rejectedAgents()
        let down = o.agents.filter { $0.state == CheckState.down.rawValue }.count
        let openIncidents = o.openByRule.values.reduce(0, +)
        let inFlight = o.actionsByState.values.reduce(0, +)
        func tile(_ n: Int, _ label: String, bad: Bool, href: String) -> String {
            "<a class=\"tile \(bad ? "bad" : "good")\" href=\"\(href)\"><div class=\"n\">\(n)</div><div class=\"l\">\(esc(label))</div></a>"
        }
        var html = "<div class=\"tiles\">"
        html += tile(o.agents.count - down, "agents up (of \(o.agents.count))", bad: false, href: "#agents")
        html += tile(down, "agents down", bad: down > 0, href: "#agents")
        html += tile(openIncidents, "open incidents", bad: openIncidents > 0, href: "/incidents?state=open")
        html += tile(inFlight, "actions in flight", bad: false, href: "/actions")
        html += tile(o.jobsDisabled, "jobs disabled (\(o.jobsDisabledByGapwatch) by Gapwatch) of \(o.jobs)", bad: o.jobsDisabled > 0, href: "/jobs")
        html += tile(o.jobsTargetFailing, "jobs on a failing target", bad: o.jobsTargetFailing > 0, href: "/jobs")
        html += tile(o.stuckLocks.count, "stuck locks", bad: !o.stuckLocks.isEmpty, href: "/locks")
        html += tile(rejected.count, "rejected agents", bad: !rejected.isEmpty, href: "#rejected")
        html += "</div>"
        if !o.checks.isEmpty {
            html += "<p>Checks: " + o.checks.sorted { $0.key < $1.key }.map { "\(badge($0.key)) \($0.value)" }.joined(separator: " · ") + "</p>"
        }

        html += "<h2>Open incidents</h2>"
        html += table(
            ["id", "rule", "subject", "opened", "reason"],
            o.openIncidents.map { i in
                [
                    "<a href=\"\(DashboardHTML.link(["incidents", String(i.id)]))\">\(i.id)</a>", esc(i.rule), storyLink(i.subject),
                    dashAgo(i.openedAt, now: now), esc(i.reason),
                ]
            }, empty: "No incident is open.")
        html += leftOut(
            shown: o.openIncidents.count, total: openIncidents, what: "open incidents", how: "the newest are listed; all on the Incidents page")
        if !o.openByRule.isEmpty {
            html +=
                "<p class=\"hint\">Open by rule: "
                + o.openByRule.sorted { $0.key < $1.key }.map { "\(esc($0.key)) \($0.value)" }.joined(separator: " · ") + "</p>"
        }

        html += "<h2>Actions in flight</h2>"
        html += table(
            ["id", "state", "action", "key", "updated", "detail"],
            o.actionsInFlight.map { a in
                [
                    actionLink(a.id), badge(a.state), esc(a.name), "<span class=\"mono\">\(esc(a.key))</span>", dashAgo(a.updatedAt, now: now),
                    esc(a.detail),
                ]
            }, empty: "No action is pending, running or being verified.")
        html += leftOut(
            shown: o.actionsInFlight.count, total: inFlight, what: "actions in flight", how: "the newest are listed; all on the Actions page")

        html += "<h2>Stuck locks</h2>"
        html += table(
            ["lock", "holder", "held for", "why"],
            o.stuckLocks.map { l in
                [storyLink("lock:\(l.name)", text: l.name), esc(l.holder ?? "–"), esc(l.ageMs.map(Units.formatAge) ?? "–"), esc(l.reason ?? "")]
            },
            empty: "No lock is stuck.")

        html += "<h2 id=\"agents\">Agents</h2>"
        let isDown = { (agent: SystemOverview.AgentLine) in agent.state == CheckState.down.rawValue }
        let agents = o.agents.sorted { a, b in isDown(a) != isDown(b) ? isDown(a) : a.id < b.id }
        html += table(
            ["agent", "service", "state", "last seen"],
            agents.prefix(Self.overviewAgentRows).map { a in
                [storyLink("agent:\(a.id)", text: a.id), esc(a.service), badge(a.state), dashAgo(a.lastSeen, now: now)]
            },
            empty: "No agent has reported yet.")
        html += leftOut(shown: min(agents.count, Self.overviewAgentRows), total: agents.count, what: "agents", how: "down ones are listed first")

        html += "<h2 id=\"rejected\">Rejected agents</h2>"
        html +=
            "<p class=\"hint\">Reports refused with 401 (missing, unknown or revoked token) or 403 (a token for another agent id, or a read token). The claimed agent id is the caller's word.</p>"
        html += table(
            ["claimed agent", "token", "source", "reason", "count", "first seen", "last seen"],
            rejected.prefix(Self.overviewRejectedRows).map { r in
                [
                    esc(r.claimedAgentID.isEmpty ? "–" : r.claimedAgentID), esc(r.tokenID ?? "–"), esc(r.source.isEmpty ? "–" : r.source),
                    badge(r.reason.rawValue), "\(r.count)", dashAgo(r.firstSeen, now: now), dashAgo(r.lastSeen, now: now),
                ]
            }, empty: "No report was refused.")
        html += leftOut(
            shown: min(rejected.count, Self.overviewRejectedRows), total: rejected.count, what: "rejected callers",
            how: "the most recently seen are listed; all in `gapwatch agents`")
        return Page(title: "Overview", body: html)
    }

    /// A link to the story page of `subject`.
    func storyLink(_ subject: String, text: String? = nil) -> String {
        "<a href=\"\(DashboardHTML.link(["story"], [("subject", subject)]))\">\(esc(text ?? subject))</a>"
    }

    /// An action id linking to its story (every step it took).
    func actionLink(_ id: String) -> String {
        "<a class=\"mono\" href=\"\(DashboardHTML.link(["story"], [("subject", "action:\(id)")]))\">\(esc(id))</a>"
    }
}
