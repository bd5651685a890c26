import GRDB
import GapwatchProtocol
import GapwatchRules

public enum CheckChange: Sendable, Equatable {
    case changed
    /// Already in the asked state.
    case unchanged
    case notFound
}

extension Detector {
    public func checks(now: Millis) throws -> [CheckInfo] {
        try database.pool.read { db in
            try CheckStore(db: db).all().map { row in
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
                let checks = CheckStore(db: db)
                guard let row = try checks.find(name: name) else { return .notFound }
                if row["state"] as String == "paused" { return .unchanged }
                try checks.pause(id: row["id"], now: now)
                try RuleRegistry.kind(of: row["kind"])?.resolveIncidents(db, check: name, reason: "the check was paused", self, now: now)
                return .changed
            }
    }

    /// Resumes a paused check as `new`: it is due one period from now (expectations judge
    /// windows closing from now on).
    public func resume(name: String, now: Millis) throws -> CheckChange {
            try database.pool.write { db in
                let checks = CheckStore(db: db)
                guard let row = try checks.find(name: name) else { return .notFound }
                if row["state"] as String != "paused" { return .unchanged }
                try checks.resume(id: row["id"], now: now)
                return .changed
            }
    }
}
