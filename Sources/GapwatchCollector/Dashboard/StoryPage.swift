import GapwatchProtocol
import Hummingbird

extension Dashboard {
    /// Observations read per subject (and kind) before folding: a day of a count re-reported every
    /// minute, or a ping every 30 s, folds into a few rows.
    static let storyObservations = 10_000
    /// Observations read per subject when repeats are shown one by one.
    static let storyUnfoldedObservations = 1000
    static let storyRows = 1000
    static let partitionCountRows = 5000
    /// What the kind filter offers: observation kinds, then incidents and actions.
    static let storyKinds = ObservationKind.allCases.map(\.rawValue) + ["incident", "action"]

    /// One line of a story, any source.
    struct StoryLine {
        var at: Millis
        /// observation, incident or action.
        var source: String
        var subject: String
        /// HTML.
        var detail: String
        var agent: String
        /// Series and value for folding repeats (nil: never folded).
        var foldKeys: (series: String, value: String)? = nil
    }

    /// `/story?subject=...[&subject=...][&partition=YYYY-MM-DD][&kind=...][&from=&to=][&repeats=all]`:
    /// observations, incidents and actions of one or more subjects (at most 4) in time order,
    /// from `app.story`. With `partition`, the observations are the datasets' counts for
    /// that date. `kind` (repeatable) keeps only those observation kinds (and `incident`,
    /// `action`); `from`/`to` take a time or a duration ago (`24h`). Repeats fold into one row
    /// ("×N, first … last …") unless `repeats=all`.
    @Sendable func story(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let query = request.uri.queryParameters
        let subjects = query[values: "subject"].map(String.init).filter { !$0.isEmpty }
        let partition = query["partition"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let chosenKinds = Set(query[values: "kind"].map(String.init).filter { !$0.isEmpty })
        if let unknown = chosenKinds.subtracting(Self.storyKinds).sorted().first {
            throw Refusal(status: .badRequest, message: "kind: '\(unknown)' is not one of \(Self.storyKinds.joined(separator: ", ")).")
        }
        let fold = query["repeats"].map(String.init) != "all"
        var range: [String: Millis] = [:]
        for key in ["from", "to"] {
            guard let text = query[Substring(key)], !text.isEmpty else { continue }
            // A duration means that long ago: from=24h is the last day.
            guard let t = Units.parseDuration(String(text)).map({ now - $0 }) ?? TimeParsing.parse(String(text)) else {
                throw Refusal(
                    status: .badRequest, message: "\(key): '\(text)' is not a time (RFC 3339, a date, ms since 1970) or a duration ago (24h).")
            }
            range[key] = t
        }
        var html = storyForm(subjects: subjects, partition: partition, kinds: chosenKinds, query: query, fold: fold)
        guard !subjects.isEmpty else {
            html += """
                <p class="hint">A subject is a typed name: <code>ping:NAME</code>, <code>job:NAME</code>, <code>target:URL</code>, \
                <code>dataset:NAME</code>, <code>item:KIND/ID</code>, <code>workflow:NAME</code>, <code>lock:NAME</code>, \
                <code>action:ID</code>, <code>agent:ID</code>, or an incident's subject. Subjects on the other pages link here.</p>
                """
            return Page(title: "Story", body: html)
        }
        guard subjects.count <= 4, subjects.allSatisfy({ $0.utf8.count <= 1024 }) else {
            throw Refusal(status: .badRequest, message: "Give at most 4 subjects of at most 1024 bytes each.")
        }
        var from = range["from"] ?? now - 7 * 86_400_000
        if range["from"] == nil, let partition, let day = TimeParsing.parse("\(partition)T00:00:00Z") { from = min(from, day - 86_400_000) }
        let to = range["to"] ?? now + 60_000
        guard from <= to else { throw Refusal(status: .badRequest, message: "The range is reversed: from is after to.") }
        let observationKinds = Set(chosenKinds.compactMap(ObservationKind.init(rawValue:)))
        let sources: Set<String> =
            chosenKinds.isEmpty
            ? ["observation", "incident", "action"]
            : Set(chosenKinds.intersection(["incident", "action"])).union(observationKinds.isEmpty ? [] : ["observation"])
        let perSubject = fold ? Self.storyObservations : Self.storyUnfoldedObservations

        var lines: [StoryLine] = []
        var notes: [String] = []
        for subject in subjects {
            let story = try app.story(
                subject: subject, from: from, to: to, limit: partition == nil && sources.contains("observation") ? perSubject : 1,
                kinds: observationKinds.isEmpty ? nil : observationKinds)
            for entry in story.entries where sources.contains(entry.source) {
                if let observation = entry.observation {
                    guard partition == nil else { continue }
                    lines.append(
                        StoryLine(
                            at: entry.at, source: "observation", subject: subject,
                            detail: badge(observation.observation.body.kind.rawValue) + " " + esc(observation.observation.body.summary),
                            agent: observation.agentID, foldKeys: SubjectStory.foldKeys(observation)))
                } else {
                    var detail = esc(entry.text ?? "")
                    if let id = entry.incidentID {
                        detail = "<a href=\"\(DashboardHTML.link(["incidents", String(id)]))\">incident \(id)</a>: " + detail
                    }
                    if let id = entry.actionID { detail = actionLink(id) + ": " + detail }
                    lines.append(StoryLine(at: entry.at, source: entry.source, subject: subject, detail: detail, agent: ""))
                }
            }
            if partition == nil && story.truncated {
                notes.append(
                    "\(subject): more than \(perSubject) observations in the range; the oldest \(perSubject) are shown (narrow it with from and to, or by kind)."
                )
            }
            if let partition, sources.contains("observation") {
                let counts = try partitionCounts(subject: subject, partition: partition, limit: Self.partitionCountRows + 1)
                if counts.count > Self.partitionCountRows {
                    notes.append("\(subject): only the newest \(Self.partitionCountRows) counts of \(partition) are shown.")
                }
                lines += counts.prefix(Self.partitionCountRows)
            }
        }
        // An incident or action about several of the subjects is told once.
        var seen = Set<String>()
        lines = lines.sorted { $0.at < $1.at }.filter { $0.source == "observation" || seen.insert("\($0.at) \($0.detail)").inserted }
        let rows =
            fold
            ? SubjectStory.foldRepeats(lines, at: \.at, keys: { line in line.foldKeys.map { ("\(line.subject)\u{1}\($0.series)", $0.value) } })
            : lines.map { ($0, 1, $0.at) }
        let folded = rows.filter { $0.count > 1 }.reduce(0) { $0 + $1.count - 1 }

        html += "<p>" + subjects.map { storyLink($0) }.joined(separator: " + ")
        if let partition { html += ", partition <strong>\(esc(partition))</strong>" }
        html += ", \(esc(dashTime(from))) to \(esc(dashTime(to))): \(lines.count) entr\(lines.count == 1 ? "y" : "ies")"
        if folded > 0 { html += " in \(rows.count) row\(rows.count == 1 ? "" : "s") (\(folded) repeat\(folded == 1 ? "" : "s") folded)" }
        html += ".</p>"
        for note in notes { html += "<p class=\"more\">\(esc(note))</p>" }
        html += table(
            ["time", "what", "subject", "detail", "agent"],
            rows.prefix(Self.storyRows).map { row in
                let l = row.item
                var detail = l.detail
                if row.count > 1 {
                    detail += " <span class=\"fold\">×\(row.count), first \(esc(dashTime(l.at))), last \(esc(dashTime(row.lastAt)))</span>"
                }
                return [esc(dashTime(l.at)), badge(l.source), esc(l.subject), detail, esc(l.agent)]
            },
            empty: "Nothing about \(subjects.joined(separator: ", ")) in this range\(chosenKinds.isEmpty ? "" : " of these kinds").")
        html += leftOut(shown: min(rows.count, Self.storyRows), total: rows.count, what: "rows", how: "the oldest are listed")
        return Page(title: partition.map { "Story of \(subjects[0]) \($0)" } ?? "Story of \(subjects.joined(separator: " + "))", body: html)
    }

    /// The filter form: a GET form (no script), keeping the subjects and partition it came with.
    func storyForm(subjects: [String], partition: String?, kinds: Set<String>, query: Parameters, fold: Bool) -> String {
        var html = """
            <form class="filters" method="get" action="/story"><p><label for="subject">Subject</label> \
            <input id="subject" type="text" name="subject" size="50" value="\(esc(subjects.first ?? ""))" \
            placeholder="dataset:nba_analytics.player_game_summary">
            """
        for extra in subjects.dropFirst().prefix(3) { html += "<input type=\"hidden\" name=\"subject\" value=\"\(esc(extra))\">" }
        if let partition { html += "<input type=\"hidden\" name=\"partition\" value=\"\(esc(partition))\">" }
        for key in ["from", "to"] {
            let value = query[Substring(key)].map(String.init) ?? ""
            let placeholder = key == "from" ? "7d, 24h, 2026-01-22" : "2026-01-23T06:00:00Z"
            html +=
                " <label for=\"\(key)\">\(key)</label> <input id=\"\(key)\" type=\"text\" name=\"\(key)\" size=\"22\" "
                + "value=\"\(esc(value))\" placeholder=\"\(placeholder)\">"
        }
        html += " <label for=\"repeats\">repeats</label> <select id=\"repeats\" name=\"repeats\">"
        html +=
            "<option value=\"fold\"\(fold ? " selected" : "")>fold</option><option value=\"all\"\(fold ? "" : " selected")>show all</option></select>"
        html += " <button>Show</button></p><p class=\"kinds\">Kinds (none ticked: all):"
        for kind in Self.storyKinds {
            html +=
                " <label><input type=\"checkbox\" name=\"kind\" value=\"\(esc(kind))\"\(kinds.contains(kind) ? " checked" : "")> \(esc(kind))</label>"
        }
        return html + "</p></form>"
    }

    /// The count observations of one dataset partition as story lines, newest first.
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [StoryLine] {
        try app.partitionCounts(subject: subject, partition: partition, limit: limit).map { c in
            StoryLine(
                at: c.observedAt, source: "observation", subject: subject, detail: badge("count") + " " + esc("\(partition) = \(c.count) rows"),
                agent: c.agentID, foldKeys: ("\(c.agentID)\u{1}count\u{1}\(partition)", String(c.count)))
        }
    }
}
