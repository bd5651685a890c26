import GRDB
import GapwatchProtocol

/// The story of one subject: its observations, and the incidents and actions about it, in one
/// chronological list. `GET /v1/story?subject=`, `gapwatch timeline SUBJECT`.
public struct SubjectStory: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var at: Millis
        /// observation, incident or action.
        public var source: String
        /// For incidents and actions: one line for people (observations carry `observation`).
        public var text: String?
        public var observation: TimelineEntry?
        public var incidentID: Int64?
        public var actionID: String?

        enum CodingKeys: String, CodingKey {
            case at, source, text, observation
            case incidentID = "incident_id"
            case actionID = "action_id"
        }
    }

    public var subject: String
    public var entries: [Entry]
    /// More observations of the subject than `limit` fell in the range: the oldest were left out.
    public var truncated: Bool
}

extension CollectorRuntime {
    /// Observations of `subject` in [from, to) (the oldest `limit`), plus the incidents about it
    /// (same subject, or naming it in a label) and the actions about it (serving those incidents,
    /// or naming it in their key or parameters), each with every step, oldest first.
    public func story(subject: String, from: Millis, to: Millis, limit: Int) throws -> SubjectStory {
        var filter = TimelineFilter()
        filter.subject = subject
        filter.from = from
        filter.to = to
        filter.limit = limit
        let page = try database.timeline(filter)
        var entries = page.observations.map { SubjectStory.Entry(at: $0.observation.observedAt, source: "observation", observation: $0) }
        // The name without its type prefix: what labels, keys and parameters mention.
        let bare = subject.firstIndex(of: ":").map { String(subject[subject.index(after: $0)...]) } ?? subject
        let (incidents, actions) = try database.pool.read { db -> ([Int64], [String]) in
            let incidents = try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM incidents WHERE (subject = ?1 OR EXISTS (SELECT 1 FROM json_each(labels) WHERE value = ?2))
                      AND opened_at < ?4 AND (resolved_at IS NULL OR resolved_at >= ?3)
                    ORDER BY id LIMIT 100
                    """, arguments: [subject, bare, from, to])
            let marks = incidents.map { _ in "?" }.joined(separator: ",")
            let actions = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM actions WHERE (\(incidents.isEmpty ? "0" : "incident_id IN (\(marks))")
                        OR key = ? OR key LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(parameters) WHERE value = ?))
                      AND created_at < ? AND updated_at >= ?
                    ORDER BY created_at LIMIT 100
                    """,
                arguments: StatementArguments(incidents.map { $0 as (any DatabaseValueConvertible) } + [subject, "%:" + likeEscaped(bare), bare, to, from]))
            return (incidents, actions)
        }
        for id in incidents {
            guard let incident = try database.incident(id: id) else { continue }
            for event in incident.events ?? [] where event.at >= from && event.at < to {
                entries.append(
                    SubjectStory.Entry(
                        at: event.at, source: "incident", text: "incident \(id) (\(incident.rule) \(incident.subject)) \(event.event): \(event.reason)",
                        incidentID: id))
            }
        }
        for id in actions {
            var steps = TimelineFilter()
            steps.subject = "action:\(id)"
            steps.from = from
            steps.to = to
            steps.limit = 1000
            for step in try database.timeline(steps).observations {
                guard case .actionResult(let result) = step.observation.body else { continue }
                let who = step.agentID == "@collector" ? "" : " (agent \(step.agentID): \(result.outcome.rawValue))"
                entries.append(
                    SubjectStory.Entry(
                        at: step.observation.observedAt, source: "action", text: "action \(id)\(who): \(result.outputTail ?? result.outcome.rawValue)",
                        actionID: id))
            }
        }
        entries.sort { $0.at < $1.at }
        return SubjectStory(subject: subject, entries: entries, truncated: page.nextCursor != nil)
    }
}

/// `text` with LIKE's wildcards escaped (ESCAPE '\').
func likeEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
}
