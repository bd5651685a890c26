import GRDB
import GapwatchProtocol
import GapwatchRules

extension ActionInfo {
    init(row: Row) {
        let json: String = row["parameters"]
        self.init(
            id: row["id"], name: row["name"], kind: row["kind"], key: row["key"], incidentID: row["incident_id"], origin: row["origin"],
            parameters: (try? ReportCodec.decode([String: String].self, from: Array(json.utf8))) ?? [:], state: row["state"],
            attempts: row["attempts"], maxAttempts: row["max_attempts"], createdAt: row["created_at"], updatedAt: row["updated_at"],
            nextAttemptAt: row["next_attempt_at"], approvedBy: row["approved_by"], requestedBy: row["requested_by"], detail: row["detail"])
    }
}

/// The guardrail scopes of an action (`guardrails.per_rule`, `per_target`): the rule that queued
/// it and what it acts on.
enum ActionScope {
    /// From the action's key: `completeness:NAME`, `stale:NAME`, `freshness:NAME`,
    /// `expectation:NAME`, `scheduler_targets` (every job action), `stuck_locks` (every lock
    /// release), or `manual` for what a person asked for.
    static func rule(key: String, origin: String) -> String {
        if origin == "manual" || key.hasPrefix("manual:") { return "manual" }
        if key.hasPrefix("job:") { return "scheduler_targets" }
        if key.hasPrefix("lock:") { return "stuck_locks" }
        // completeness:NAME:HEAL:START..END and expectation:NAME:rerun; names may hold ':'.
        let parts = key.split(separator: ":", omittingEmptySubsequences: false)
        if key.hasPrefix("completeness:"), parts.count >= 4 { return parts.dropLast(2).joined(separator: ":") }
        if key.hasPrefix("expectation:"), parts.count >= 3 { return parts.dropLast().joined(separator: ":") }
        return key
    }

    /// `agent:ID` for an agent's command, `webhook:SCHEME://HOST[:PORT]` for a call.
    static func target(_ action: ActionConfig) -> String {
        switch action.target {
        case .agent(let agentID, _, _): "agent:\(agentID)"
        case .webhook(_, let url, _, _): "webhook:\(serviceOf(url: url) ?? url)"
        }
    }
}

func describe(_ parameters: [String: String]) -> String {
    parameters.isEmpty ? "no parameters" : parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
}

public struct ActionFilter: Sendable {
    public var incidentID: Int64?
    public var state: String?
    public var limit = 100
    public init() {}
}

extension AppDatabase {
    public func actions(_ filter: ActionFilter) throws -> [ActionInfo] {
        try pool.read { db in
            var conditions: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let incident = filter.incidentID {
                conditions.append("incident_id = ?")
                arguments.append(incident)
            }
            if let state = filter.state {
                conditions.append("state = ?")
                arguments.append(state)
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(
                db, sql: "SELECT * FROM actions \(whereClause) ORDER BY created_at DESC, id DESC LIMIT ?",
                arguments: StatementArguments(arguments + [filter.limit])
            ).map(ActionInfo.init(row:))
        }
    }

    public func action(id: String) throws -> ActionInfo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM actions WHERE id = ?", arguments: [id]).map(ActionInfo.init(row:)) }
    }

    /// Approves an action waiting for approval: it runs at the next pass. False if it was not waiting.
    public func approveAction(id: String, by: String, now: Millis) throws -> Bool {
        try pool.write { db in try ActionQueue(db: db).approve(id, by: by, now: now) }
    }
}
