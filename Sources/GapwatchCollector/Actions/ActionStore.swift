import GRDB
import GapwatchProtocol

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
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case id, name, kind, key, origin, parameters, state, attempts, detail
        case incidentID = "incident_id"
        case maxAttempts = "max_attempts"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case nextAttemptAt = "next_attempt_at"
        case approvedBy = "approved_by"
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
        detail = row["detail"]
    }
}

/// States in which an action holds its key (at most one per key).
let inFlightActionStates = ["pending", "awaiting_approval", "running", "verifying"]

/// Queues actions inside the caller's transaction, with the per-key guardrails: one in flight per
/// key, a cooldown after the last attempt, and nothing new once a key escalated to a person.
struct ActionQueue {
    let db: Database

    /// Queues `action` for `key` unless the key is in flight, cooling down, or escalated.
    /// Returns the new action's id, or nil with the reason it was not queued.
    func enqueue(
        _ action: ActionConfig, key: String, incidentID: Int64?, origin: String, parameters: [String: String], now: Millis
    ) throws -> (id: String?, reason: String) {
        if let busy = try String.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM actions WHERE key = ? AND state IN ('pending', 'awaiting_approval', 'running', 'verifying')"),
            arguments: [key])
        {
            return (nil, "action \(busy) is already in flight for \(key)")
        }
        if let incidentID, try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT escalated FROM incidents WHERE id = ?"), arguments: [incidentID]) == true
        {
            return (nil, "incident \(incidentID) is escalated: it waits for a person")
        }
        var notBefore = now
        if let last = try Millis.fetchOne(
            db.cachedStatement(sql: "SELECT MAX(updated_at) FROM actions WHERE key = ? AND state != 'cancelled'"),
            arguments: [key])
        {
            notBefore = max(notBefore, last + action.cooldownMs)
        }
        let number = (try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM actions") ?? 0) + 1
        let id = "act-\(number)-\(RandomID.make().prefix(8))"
        let kind: String = if case .webhook = action.target { "webhook" } else { "agent" }
        try db.execute(
            sql: """
                INSERT INTO actions (id, name, kind, key, incident_id, origin, parameters, state, max_attempts, created_at, updated_at, next_attempt_at, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, action.name, kind, key, incidentID, origin, String(decoding: ReportCodec.encode(parameters), as: UTF8.self),
                action.maxAttempts, now, now, notBefore, notBefore > now ? "cooling down until \(TimeParsing.format(notBefore))" : "queued",
            ])
        try CollectorTimeline.append(
            db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "queued \(action.name) for \(key)\(incidentID.map { " (incident \($0))" } ?? "") with \(describe(parameters))")),
            at: now)
        return (id, "queued")
    }

    /// When the incident an action serves resolves, the action is verified (if it ran) or no
    /// longer needed (if it had not started).
    func incidentResolved(_ incidentID: Int64, reason: String, now: Millis) throws {
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, state FROM actions WHERE incident_id = ? AND state IN ('pending', 'awaiting_approval', 'verifying')"),
            arguments: [incidentID])
        {
            let id: String = row["id"]
            let verified = (row["state"] as String) == "verifying"
            try db.cachedStatement(sql: "UPDATE actions SET state = ?, detail = ?, updated_at = ?, next_attempt_at = NULL WHERE id = ?")
                .execute(arguments: [verified ? "verified" : "cancelled", verified ? "verified: \(reason)" : "no longer needed: \(reason)", now, id])
            try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [id])
            try CollectorTimeline.append(
                db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: (verified ? "verified: " : "cancelled, no longer needed: ") + reason)),
                at: now)
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
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE actions SET state = 'pending', approved_by = ?, next_attempt_at = ?, updated_at = ?, detail = 'approved'
                    WHERE id = ? AND state = 'awaiting_approval'
                    """, arguments: [by, now, now, id])
            guard db.changesCount == 1 else { return false }
            try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "approved by token \(by)")), at: now)
            return true
        }
    }
}
