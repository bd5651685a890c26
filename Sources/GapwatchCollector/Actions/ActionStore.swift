import GRDB
import GapwatchProtocol
import GapwatchRules

/// An action as `GET /v1/actions` shows it.
public struct ActionInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var kind: String
    public var key: String
    public var incidentID: Int64?
    public var origin: String
    public var parameters: [String: String]
    public var state: String
    public var attempts: Int
    public var maxAttempts: Int
    public var createdAt: Millis
    public var updatedAt: Millis
    public var nextAttemptAt: Millis?
    public var approvedBy: String?
    /// Who asked for a manual action (a token id).
    public var requestedBy: String?
    public var detail: String
    /// For an action over a date range with a rule to judge it: partitions healed so far.
    public var progress: ActionProgress?

    enum CodingKeys: String, CodingKey {
        case id, name, kind, key, origin, parameters, state, attempts, detail, progress
        case incidentID = "incident_id"
        case maxAttempts = "max_attempts"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case nextAttemptAt = "next_attempt_at"
        case approvedBy = "approved_by"
        case requestedBy = "requested_by"
    }

    init(row: Row) {
        let json: String = row["parameters"]
        id = row["id"]
        name = row["name"]
        kind = row["kind"]
        key = row["key"]
        incidentID = row["incident_id"]
        origin = row["origin"]
        parameters = (try? ReportCodec.decode([String: String].self, from: Array(json.utf8))) ?? [:]
        state = row["state"]
        attempts = row["attempts"]
        maxAttempts = row["max_attempts"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
        nextAttemptAt = row["next_attempt_at"]
        approvedBy = row["approved_by"]
        requestedBy = row["requested_by"]
        detail = row["detail"]
    }
}

/// How many partitions of an action's range are healed (verified) out of how many.
public struct ActionProgress: Codable, Sendable, Equatable {
    public var verified: Int
    public var total: Int

    enum CodingKeys: String, CodingKey {
        case verified = "partitions_verified"
        case total = "partitions_total"
    }

    public init(verified: Int, total: Int) {
        self.verified = verified
        self.total = total
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
