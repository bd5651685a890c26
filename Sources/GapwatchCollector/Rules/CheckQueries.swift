import GRDB
import GapwatchProtocol
import GapwatchRules

/// A check as `GET /v1/checks` shows it.
public struct CheckInfo: Codable, Sendable, Equatable {
    public var name: String
    /// heartbeat | liveness | expectation
    public var kind: String
    public var state: String
    /// Past its due time but within grace (computed, not stored).
    public var late: Bool
    public var reason: String
    /// "every 1h", "cron '0 6 * * *' (UTC)", or the run window.
    public var expects: String
    public var graceMs: Millis
    public var lastPingAt: Millis?
    public var lastStartAt: Millis?
    public var lastFailAt: Millis?
    public var lastDurationMs: Int64?
    public var feederAgentID: String?
    public var nextDue: Millis?
    public var changedAt: Millis

    enum CodingKeys: String, CodingKey {
        case name, kind, state, late, reason, expects
        case graceMs = "grace_ms"
        case lastPingAt = "last_ping_at"
        case lastStartAt = "last_start_at"
        case lastFailAt = "last_fail_at"
        case lastDurationMs = "last_duration_ms"
        case feederAgentID = "feeder_agent_id"
        case nextDue = "next_due"
        case changedAt = "changed_at"
    }
}

public enum CheckChange: Sendable, Equatable {
    case changed
    /// Already in the asked state.
    case unchanged
    case notFound
}

extension Detector {
    public func checks(now: Millis) throws -> [CheckInfo] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM checks ORDER BY kind, name").map { row in
                let name: String = row["name"]
                let kind: String = row["kind"]
                let (expects, grace) = describeExpectation(kind: kind, name: name)
                var late = false
                let rule: HeartbeatRule? = kind == "liveness" ? config.liveness.rule : kind == "heartbeat" ? heartbeats[name]?.rule : nil
                if let rule, let state = CheckState(rawValue: row["state"]), state == .up || state == .new {
                    let facts = HeartbeatFacts(since: row["created_at"], lastPingAt: row["last_ping_at"])
                    late = rule.evaluate(current: state, facts: facts, now: now).late
                }
                return CheckInfo(
                    name: name, kind: kind, state: row["state"], late: late, reason: row["reason"], expects: expects, graceMs: grace,
                    lastPingAt: row["last_ping_at"], lastStartAt: row["last_start_at"], lastFailAt: row["last_fail_at"],
                    lastDurationMs: row["last_duration_ms"], feederAgentID: row["feeder_agent_id"], nextDue: row["next_due"],
                    changedAt: row["changed_at"])
            }
        }
    }

    /// Pauses a check: no evaluation, and its open incident is resolved as paused.
    public func pause(name: String, now: Millis) throws -> CheckChange {
            try database.pool.write { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT id, kind, state FROM checks WHERE name = ?", arguments: [name]) else {
                    return .notFound
                }
                if row["state"] as String == "paused" { return .unchanged }
                try db.execute(
                    sql: "UPDATE checks SET state = 'paused', reason = 'paused', next_due = NULL, changed_at = ? WHERE id = ?",
                    arguments: [now, row["id"] as Int64])
                try RuleRegistry.kind(of: row["kind"])?.resolveIncidents(db, check: name, reason: "the check was paused", self, now: now)
                return .changed
            }
    }

    /// Resumes a paused check as `new`: it is due one period from now (expectations judge
    /// windows closing from now on).
    public func resume(name: String, now: Millis) throws -> CheckChange {
            try database.pool.write { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT id, state FROM checks WHERE name = ?", arguments: [name]) else {
                    return .notFound
                }
                if row["state"] as String != "paused" { return .unchanged }
                try db.execute(
                    sql: """
                        UPDATE checks SET state = 'new', reason = 'resumed', created_at = ?, changed_at = ?, last_ping_at = NULL,
                            last_fail_at = NULL, last_fail_reason = NULL, next_due = ?, judged_through = CASE WHEN kind = 'expectation' THEN ? END
                        WHERE id = ?
                        """, arguments: [now, now, now, now, row["id"] as Int64])
                return .changed
            }
    }
}
