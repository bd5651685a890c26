import GapwatchProtocol
import Hummingbird

extension Dashboard {
    static let jobRows = 500
    static let lockRows = 500

    /// `/jobs`: every scheduler job seen (`app.auditJobs`), flagged ones first.
    @Sendable func jobs(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let jobs = try app.auditJobs(now: now).sorted { a, b in
            a.flags.isEmpty != b.flags.isEmpty ? !a.flags.isEmpty : (a.service ?? "", a.name) < (b.service ?? "", b.name)
        }
        let flagged = jobs.filter { !$0.flags.isEmpty }.count
        var html = "<div class=\"tiles\">"
        for (n, label, bad) in [
            (jobs.count, "jobs", false), (flagged, "flagged", flagged > 0), (jobs.filter { !$0.enabled }.count, "disabled", false),
            (jobs.filter(\.disabledByGapwatch).count, "disabled by Gapwatch", false),
            (jobs.filter { $0.targetHealth == "failing" }.count, "on a failing target", jobs.contains { $0.targetHealth == "failing" }),
        ] {
            html += "<div class=\"tile \(bad ? "bad" : "")\"><div class=\"n\">\(n)</div><div class=\"l\">\(esc(label))</div></div>"
        }
        html += "</div>"
        if let targets = app.config.remediation.schedulerTargets {
            html += "<p class=\"hint\">A target is failing after \(targets.rule.failuresToOpen) failed probes in a row"
            html += targets.disable.map { "; failing enabled jobs get the <code>\(esc($0))</code> action" } ?? "; no disable action is configured"
            html += ".</p>"
        }
        html += table(
            ["job", "service", "scheduler", "schedule", "enabled", "target", "failed probes", "last probe", "last success", "flags"],
            jobs.prefix(Self.jobRows).map { j in
                [
                    storyLink("job:\(j.name)", text: j.name), "<span class=\"mono\">\(esc(j.service ?? "–"))</span>", esc(j.scheduler ?? "–"),
                    "<span class=\"mono\">\(esc(j.schedule ?? "–"))</span>" + (j.timeZone.map { " " + esc($0) } ?? ""),
                    badge(j.enabled ? "enabled" : "disabled") + (j.present ? "" : " " + badge("missing")), badge(j.targetHealth),
                    "\(j.probeFailures)", dashAgo(j.lastProbeAt, now: now) + (j.lastProbeDetail.map { " " + esc($0) } ?? ""),
                    dashAgo(j.lastSuccessAt, now: now), j.flags.map { "<span class=\"badge b-other\">\(esc($0))</span>" }.joined(separator: " "),
                ]
            }, empty: "No scheduler inventory has been reported (agents: scheduler: in their config).")
        html += leftOut(shown: min(jobs.count, Self.jobRows), total: jobs.count, what: "jobs", how: "flagged ones are listed first")
        return Page(title: "Scheduler jobs and targets", body: html)
    }

    /// `/locks[?released=NAME]`: every lock seen, with a force-release button per held lock.
    @Sendable func locks(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        try locksPage(viewer: viewer, now: now, released: request.uri.queryParameters["released"].map(String.init), error: nil)
    }

    func locksPage(viewer: Viewer, now: Millis, released: String?, error: String?) throws -> Page {
        let locks = try app.locks(now: now).sorted { a, b in
            let rank = ["stuck": 0, "held": 1, "free": 2]
            return (rank[a.state] ?? 3, a.name) < (rank[b.state] ?? 3, b.name)
        }
        var html = ""
        if let error { html += "<p class=\"error\">\(esc(error))</p>" }
        let releasing = try app.releasesInFlight()
        if let released {
            html += "<p class=\"notice\">Release of lock <strong>\(esc(released))</strong> queued"
            if let action = releasing[released] { html += ": action \(actionLink(action.id)) \(badge(action.state))" }
            html += ".</p>"
        }
        if !viewer.identity.isAdmin {
            html += "<p class=\"hint\">Force-releasing a lock needs an admin token; this session has a read token.</p>"
        }
        html += table(
            ["lock", "state", "holder", "held for", "expires", "why", "agent", ""],
            locks.prefix(Self.lockRows).map { l in
                var button = ""
                if let action = releasing[l.name] {
                    button = "release in flight: \(actionLink(action.id)) \(badge(action.state))"
                } else if l.holder != nil && viewer.identity.isAdmin {
                    button = """
                        <form class="inline" method="post" action="\(DashboardHTML.link(["locks", l.name, "release"]))">\
                        <input type="hidden" name="csrf" value="\(esc(viewer.csrf))"><button class="danger">Force release</button></form>
                        """
                }
                return [
                    storyLink("lock:\(l.name)", text: l.name), badge(l.state), esc(l.holder ?? "–"), esc(l.ageMs.map(Units.formatAge) ?? "–"),
                    dashAgo(l.expiresAt, now: now), esc(l.reason ?? ""), esc(l.agentID), button,
                ]
            }, empty: "No lock has been reported (agents: locks: in their config).")
        html += leftOut(shown: min(locks.count, Self.lockRows), total: locks.count, what: "locks", how: "stuck and held ones are listed first")
        html += """
            <p class="hint">Force release queues the <code>release:</code> action of the stuck_locks rule covering the lock, \
            exactly as <code>gapwatch locks release NAME</code> does, recorded with your token.</p>
            """
        return Page(title: "Locks", body: html)
    }

    /// `POST /locks/{name}/release`: an admin session with its CSRF field force-releases a lock
    /// through the same use case as the API (`CollectorApp.releaseLock`), then shows the lock list.
    @Sendable func release(request: Request, context: CollectorContext) async throws -> Response {
        let started = WallClock.monotonicNanos()
        let now = WallClock.nowMillis()
        guard let viewer = try viewer(request, now: now) else { return redirect(to: "/login?next=/locks") }
        let form: [String: String]
        do {
            form = try await formBody(request)
        } catch let refusal as Refusal {
            return html(
                layout(
                    Page(title: "Refused", body: "<p class=\"error\">\(esc(refusal.message))</p>", status: refusal.status), section: .locks,
                    viewer: viewer, startedNanos: started), status: refusal.status)
        }
        guard sessions.csrfMatches(form["csrf"], session: viewer.sessionID) else {
            return html(layout(csrfRefusal, section: .locks, viewer: viewer, startedNanos: started), status: .forbidden)
        }
        guard viewer.identity.isAdmin else {
            let page = try locksPage(
                viewer: viewer, now: now, released: nil, error: "Force release needs an admin token; this session has a read token.")
            return html(
                layout(Page(title: page.title, body: page.body, status: .forbidden), section: .locks, viewer: viewer, startedNanos: started),
                status: .forbidden)
        }
        // The route parameter arrives percent-encoded.
        let name = DashboardHTML.percentDecode(context.parameters.get("name").map { Substring($0) } ?? "") ?? ""
        do {
            _ = try await app.releaseLock(name: name, requestedBy: viewer.identity.tokenID, now: now)
        } catch let refusal as UseCaseError {
            let status = APIError(refusal).status
            let page = try locksPage(viewer: viewer, now: now, released: nil, error: "Lock \(name) was not released: \(refusal.message)")
            return html(
                layout(Page(title: page.title, body: page.body, status: status), section: .locks, viewer: viewer, startedNanos: started),
                status: status)
        }
        context.logger.notice("dashboard lock release", metadata: ["lock": "\(name)", "token.id": "\(viewer.identity.tokenID)"])
        return redirect(to: "/locks?released=" + DashboardHTML.percentEncode(name))
    }
}
