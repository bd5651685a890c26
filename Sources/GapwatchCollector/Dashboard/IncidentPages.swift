import GapwatchProtocol
import Hummingbird

extension Dashboard {
    static let incidentRows = 200
    static let actionRows = 200

    /// `/incidents[?state=open|resolved]`: incidents, newest first; each links to its events.
    @Sendable func incidents(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let state = try stateParameter(request, allowed: IncidentState.allCases.map(\.rawValue))
        var filter = IncidentFilter()
        filter.state = state
        filter.limit = Self.incidentRows
        let incidents = try app.incidents(filter)
        let total = try app.incidentCount(state: state)
        var html = filterLinks("incidents", current: state, states: IncidentState.allCases.map(\.rawValue))
        html += table(
            ["id", "state", "rule", "subject", "opened", "resolved", "reason"],
            incidents.map { i in
                [
                    "<a href=\"\(DashboardHTML.link(["incidents", String(i.id)]))\">\(i.id)</a>",
                    badge(i.state) + (i.escalated ? " " + badge("escalated") : ""),
                    esc(i.rule), storyLink(i.subject), dashAgo(i.openedAt, now: now), dashAgo(i.resolvedAt, now: now), esc(i.reason),
                ]
            }, empty: state.map { "No \($0) incident." } ?? "No incident has been opened.")
        html += leftOut(shown: incidents.count, total: total, what: "incidents", how: "the newest are listed")
        return Page(title: "Incidents", body: html)
    }

    /// `/incidents/{id}`: one incident with every event, its deliveries, and the actions serving it.
    @Sendable func incident(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), let incident = try app.incident(id: id) else {
            throw Refusal(status: .notFound, message: "No incident \(text).")
        }
        var html = "<p>\(badge(incident.state))\(incident.escalated ? " " + badge("escalated") : "") <strong>\(esc(incident.rule))</strong> on "
        html += storyLink(incident.subject) + ", opened \(esc(dashTime(incident.openedAt)))"
        if let resolved = incident.resolvedAt {
            html += ", resolved \(esc(dashTime(resolved))) after \(esc(Units.formatAge(resolved - incident.openedAt)))"
        }
        html += ".</p><p>\(esc(incident.reason))</p>"
        if !incident.labels.isEmpty {
            html +=
                "<p class=\"hint\">Labels: "
                + incident.labels.sorted { $0.key < $1.key }.map { "<code>\(esc($0.key))=\(esc($0.value))</code>" }.joined(separator: " ") + "</p>"
        }
        if let feeder = incident.feederAgentID { html += "<p class=\"hint\">Fed by agent \(storyLink("agent:\(feeder)", text: feeder)).</p>" }
        html += "<h2>Events</h2>"
        html += table(
            ["time", "event", "state", "reason", "notify", "deliveries"],
            (incident.events ?? []).map { e in
                [
                    esc(dashTime(e.at)), esc(e.event), esc((e.oldState.map { "\($0) → " } ?? "") + e.newState), esc(e.reason),
                    badge(e.notify) + (e.notifyDetail.map { " " + esc($0) } ?? "") + (e.attempts > 0 ? " (\(e.attempts) attempt(s))" : ""),
                    e.deliveries.map { d in "\(esc(d.channel)): \(badge(d.state)) \(esc(d.detail))" }.joined(separator: "<br>"),
                ]
            }, empty: "No events.")
        var filter = ActionFilter()
        filter.incidentID = id
        filter.limit = Self.actionRows
        let actions = try app.actions(filter)
        html += "<h2>Actions</h2>"
        html += actionsTable(actions, now: now, empty: "No action served this incident.")
        if actions.count == Self.actionRows { html += "<p class=\"more\">Only the newest \(Self.actionRows) actions are listed.</p>" }
        return Page(title: "Incident \(id)", body: html)
    }

    /// `/actions[?state=]`: healing actions, newest first.
    @Sendable func actions(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let states = ActionState.allCases.filter { $0 != .dryRun }.map(\.rawValue)
        let state = try stateParameter(request, allowed: states)
        var filter = ActionFilter()
        filter.state = state
        filter.limit = Self.actionRows
        let actions = try app.actions(filter)
        let byState = try app.actionCountsByState()
        var html = filterLinks("actions", current: state, states: states.filter { byState[$0] != nil }, counts: byState)
        html += actionsTable(actions, now: now, empty: state.map { "No \($0) action." } ?? "No action has been queued.")
        let total = state.map { byState[$0] ?? 0 } ?? byState.values.reduce(0, +)
        html += leftOut(shown: actions.count, total: total, what: "actions", how: "the newest are listed")
        return Page(title: "Actions", body: html)
    }

    func actionsTable(_ actions: [ActionInfo], now: Millis, empty: String) -> String {
        table(
            ["id", "state", "action", "origin", "attempts", "incident", "key", "updated", "detail"],
            actions.map { a in
                var detail = esc(a.detail)
                if let p = a.progress { detail += " (partitions verified \(p.verified) / \(p.total))" }
                if let who = a.requestedBy { detail += " <span class=\"hint\">asked by \(esc(who))</span>" }
                return [
                    actionLink(a.id), badge(a.state), esc(a.name) + " <span class=\"hint\">\(esc(a.kind))</span>", esc(a.origin),
                    "\(a.attempts) / \(a.maxAttempts)",
                    a.incidentID.map { "<a href=\"\(DashboardHTML.link(["incidents", String($0)]))\">\($0)</a>" } ?? "–",
                    "<span class=\"mono\">\(esc(a.key))</span>", dashAgo(a.updatedAt, now: now), detail,
                ]
            }, empty: empty)
    }

    /// `?state=` among `allowed`, or nil for all.
    func stateParameter(_ request: Request, allowed: [String]) throws -> String? {
        guard let state = request.uri.queryParameters["state"].map(String.init), !state.isEmpty else { return nil }
        guard allowed.contains(state) else {
            throw Refusal(status: .badRequest, message: "state: '\(state)' is not one of \(allowed.joined(separator: ", ")).")
        }
        return state
    }

    func filterLinks(_ page: String, current: String?, states: [String], counts: [String: Int] = [:]) -> String {
        let items = [(nil as String?, "all")] + states.map { ($0 as String?, $0) }
        return "<p class=\"filters\">"
            + items.map { state, label in
                let text = esc(label) + (state.flatMap { counts[$0] }.map { " (\($0))" } ?? "")
                return state == current ? "<strong>\(text)</strong>" : "<a href=\"\(DashboardHTML.link([page], [("state", state)]))\">\(text)</a>"
            }.joined(separator: " ") + "</p>"
    }
}
