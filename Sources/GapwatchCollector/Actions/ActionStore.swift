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

/// States in which an action holds its key (at most one per key).
let inFlightActionStates = ["pending", "awaiting_approval", "running", "verifying"]

/// Queues actions inside the caller's transaction, with the per-key guardrails: one in flight per
/// key, a cooldown after the last attempt, and nothing new once a key escalated to a person.
struct ActionQueue {
    let db: Database

    /// Queues `action` for `key` unless the key is in flight, cooling down, or escalated.
    /// Returns the new action's id, or nil with the reason it was not queued.
    func enqueue(
        _ action: ActionConfig, key: String, incidentID: Int64?, origin: String, parameters: [String: String], now: Millis,
        requestedBy: String? = nil
    ) throws -> (id: String?, reason: String) {
        // One in flight per key, and per action over overlapping date ranges (a manual backfill
        // and a rule's backfill of the same days would fight over the same rows).
        let start = parameters["start"], end = parameters["end"]
        if let busy = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id, key FROM actions WHERE state IN ('pending', 'awaiting_approval', 'running', 'verifying')
                    AND (key = ?1 OR (?2 IS NOT NULL AND name = ?4
                         AND json_extract(parameters, '$.start') <= ?3 AND json_extract(parameters, '$.end') >= ?2))
                    LIMIT 1
                    """),
            arguments: [key, start, end, action.name])
        {
            let busyKey: String = busy["key"]
            return (nil, "action \(busy["id"] as String) is already in flight for \(busyKey == key ? key : "an overlapping range (\(busyKey))")")
        }
        // A range that escalated waits for a person while its incident is open; other ranges of
        // the same incident keep healing.
        if let incidentID, let escalated = try String.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id FROM actions WHERE incident_id = ?5 AND state = 'escalated'
                    AND (key = ?1 OR (?2 IS NOT NULL AND name = ?4
                         AND json_extract(parameters, '$.start') <= ?3 AND json_extract(parameters, '$.end') >= ?2))
                    LIMIT 1
                    """),
            arguments: [key, start, end, action.name, incidentID])
        {
            return (nil, "action \(escalated) escalated for \(key) under incident \(incidentID): it waits for a person")
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
                INSERT INTO actions (id, name, kind, key, incident_id, origin, parameters, state, max_attempts, created_at, updated_at, next_attempt_at, detail, requested_by,
                                     scope_rule, scope_target)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, action.name, kind, key, incidentID, origin, String(decoding: ReportCodec.encode(parameters), as: UTF8.self),
                action.maxAttempts, now, now, notBefore, notBefore > now ? "cooling down until \(TimeParsing.format(notBefore))" : "queued",
                requestedBy, ActionScope.rule(key: key, origin: origin), ActionScope.target(action),
            ])
        try CollectorTimeline.append(
            db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "queued \(action.name) for \(key)\(incidentID.map { " (incident \($0))" } ?? "")\(requestedBy.map { ", asked by token \($0)" } ?? "") with \(describe(parameters))")),
            at: now)
        return (id, "queued")
    }

    /// When the incident an action serves resolves, the action is verified if it ran (a pending
    /// retry ran an earlier attempt) and no longer needed if it never started. A running action
    /// is left to its result: the runner verifies it then.
    func incidentResolved(_ incidentID: Int64, reason: String, now: Millis) throws {
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT id, state, attempts FROM actions WHERE incident_id = ? AND state IN ('pending', 'awaiting_approval', 'verifying')"),
            arguments: [incidentID])
        {
            let ran = (row["state"] as String) == "verifying" || (row["attempts"] as Int) > 0
            try finish(row["id"], state: ran ? "verified" : "cancelled", detail: ran ? "verified: \(reason)" : "no longer needed: \(reason)", now: now)
        }
    }

    /// Ends an action (verified or cancelled) and withdraws any command not yet handed out.
    func finish(_ id: String, state: String, detail: String, now: Millis) throws {
        try db.cachedStatement(sql: "UPDATE actions SET state = ?, detail = ?, updated_at = ?, next_attempt_at = NULL WHERE id = ?")
            .execute(arguments: [state, detail, now, id])
        try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [id])
        try CollectorTimeline.append(
            db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: state == "cancelled" ? "cancelled, " + detail : detail)), at: now)
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
