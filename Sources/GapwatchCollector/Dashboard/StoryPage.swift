import GRDB
import GapwatchProtocol
import Hummingbird

extension Dashboard {
    static let storyObservations = 500
    static let storyRows = 1000
    static let partitionCountRows = 200

    /// One line of a story, any source.
    struct StoryLine {
        var at: Millis
        /// observation, incident or action.
        var source: String
        var subject: String
        /// HTML.
        var detail: String
        var agent: String
    }

    /// `/story?subject=...[&subject=...][&partition=YYYY-MM-DD][&from=&to=]`: observations,
    /// incidents and actions of one or more subjects (at most 4) in time order, from
    /// `runtime.story`. With `partition`, the observations are the datasets' counts for that date.
    @Sendable func story(request: Request, context: CollectorContext, viewer: Viewer, now: Millis) async throws -> Page {
        let query = request.uri.queryParameters
        let subjects = query[values: "subject"].map(String.init).filter { !$0.isEmpty }
        let partition = query["partition"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var html = """
            <form method="get" action="/story"><label for="subject">Subject</label> \
            <input id="subject" type="text" name="subject" size="50" value="\(esc(subjects.first ?? ""))" \
            placeholder="dataset:nba_analytics.player_game_summary"> <button>Show</button></form>
            """
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
        var range: [String: Millis] = [:]
        for key in ["from", "to"] {
            guard let text = query[Substring(key)], !text.isEmpty else { continue }
            guard let t = TimeParsing.parse(String(text)) else {
                throw Refusal(status: .badRequest, message: "\(key): '\(text)' is not a time (milliseconds since 1970, or RFC 3339).")
            }
            range[key] = t
        }
        var from = range["from"] ?? now - 7 * 86_400_000
        if range["from"] == nil, let partition, let day = TimeParsing.parse("\(partition)T00:00:00Z") { from = min(from, day - 86_400_000) }
        let to = range["to"] ?? now + 60_000
        guard from <= to else { throw Refusal(status: .badRequest, message: "The range is reversed: from is after to.") }

        var lines: [StoryLine] = []
        var notes: [String] = []
        for subject in subjects {
            let story = try runtime.story(subject: subject, from: from, to: to, limit: partition == nil ? Self.storyObservations : 1)
            for entry in story.entries {
                if let observation = entry.observation {
                    guard partition == nil else { continue }
                    lines.append(
                        StoryLine(
                            at: entry.at, source: "observation", subject: subject, detail: badge(observation.observation.body.kind.rawValue) + " " + esc(observation.observation.body.summary),
                            agent: observation.agentID))
                } else {
                    var detail = esc(entry.text ?? "")
                    if let id = entry.incidentID { detail = "<a href=\"\(DashboardHTML.link(["incidents", String(id)]))\">incident \(id)</a>: " + detail }
                    if let id = entry.actionID { detail = actionLink(id) + ": " + detail }
                    lines.append(StoryLine(at: entry.at, source: entry.source, subject: subject, detail: detail, agent: ""))
                }
            }
            if partition == nil && story.truncated {
                notes.append("\(subject): more than \(Self.storyObservations) observations in the range; the oldest \(Self.storyObservations) are shown (narrow it with from= and to=).")
            }
            if let partition {
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

        html += "<p>" + subjects.map { storyLink($0) }.joined(separator: " + ")
        if let partition { html += ", partition <strong>\(esc(partition))</strong>" }
        html += ", \(esc(dashTime(from))) to \(esc(dashTime(to))): \(lines.count) entr\(lines.count == 1 ? "y" : "ies").</p>"
        for note in notes { html += "<p class=\"more\">\(esc(note))</p>" }
        html += table(
            ["time", "what", "subject", "detail", "agent"],
            lines.prefix(Self.storyRows).map { l in [esc(dashTime(l.at)), badge(l.source), esc(l.subject), l.detail, esc(l.agent)] },
            empty: "Nothing about \(subjects.joined(separator: ", ")) in this range.")
        html += leftOut(shown: min(lines.count, Self.storyRows), total: lines.count, what: "entries", how: "the oldest are listed")
        return Page(title: partition.map { "Story of \(subjects[0]) \($0)" } ?? "Story of \(subjects.joined(separator: " + "))", body: html)
    }

    /// The count observations of one dataset partition, newest first, through the counts index.
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [StoryLine] {
        try runtime.database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.observed_at, o.num, st.agent_id FROM observations o JOIN streams st ON st.id = o.stream_id
                    WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.kind = \(ObservationKind.count.storageCode) AND o.part = ?
                    ORDER BY o.observed_at DESC LIMIT ?
                    """, arguments: [subject, partition, limit]
            ).map { row in
                let count: Int64 = row["num"]
                return StoryLine(
                    at: row["observed_at"], source: "observation", subject: subject, detail: badge("count") + " " + esc("\(partition) = \(count) rows"),
                    agent: row["agent_id"])
            }
        }
    }
}
