import GRDB
import GapwatchProtocol
import GapwatchRules

/// The only place an action changes state. Works inside the caller's transaction; each move is
/// one guarded UPDATE along `ActionState.successors`, so a move from a state that no longer holds
/// (another owner settled the action meanwhile) changes nothing and says so by returning false.
/// Enqueue keeps the per-key guardrails: one in flight per key, a cooldown after the last attempt,
/// and nothing new once a key escalated to a person.
struct ActionQueue {
    let db: Database

    /// Queues `action` for `key` unless the key is in flight, cooling down, or escalated.
    /// `heals`: the rule and check that judge it healed (nil for what no rule queued).
    /// Returns the new action's id, or nil with the reason it was not queued.
    func enqueue(
        _ action: ActionConfig, key: String, heals: ActionHeals?, incidentID: Int64?, origin: String, parameters: [String: String], now: Millis,
        requestedBy: String? = nil
    ) throws -> (id: String?, reason: String) {
        // One in flight per key, and per action over overlapping date ranges (a manual backfill
        // and a rule's backfill of the same days would fight over the same rows).
        let start = parameters["start"], end = parameters["end"]
        if let busy = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id, key FROM actions WHERE \(ActionState.inFlightCondition())
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
                    SELECT id FROM actions WHERE incident_id = ?5 AND state = '\(ActionState.escalated.rawValue)'
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
            db.cachedStatement(sql: "SELECT MAX(updated_at) FROM actions WHERE key = ? AND state != '\(ActionState.cancelled.rawValue)'"),
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
                                     scope_rule, scope_target, heals_rule, heals_check)
                VALUES (?, ?, ?, ?, ?, ?, ?, '\(ActionState.pending.rawValue)', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, action.name, kind, key, incidentID, origin, String(decoding: ReportCodec.encode(parameters), as: UTF8.self),
                action.maxAttempts, now, now, notBefore, notBefore > now ? "cooling down until \(TimeParsing.format(notBefore))" : "queued",
                requestedBy, ActionScope.rule(key: key, origin: origin), ActionScope.target(action), heals?.rule.rawValue, heals?.check,
            ])
        try CollectorTimeline.append(
            db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "queued \(action.name) for \(key)\(incidentID.map { " (incident \($0))" } ?? "")\(requestedBy.map { ", asked by token \($0)" } ?? "") with \(describe(parameters))")),
            at: now)
        return (id, "queued")
    }

    /// The rule and check an action heals, as enqueue recorded them.
    func heals(of id: String) throws -> ActionHeals? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT heals_rule, heals_check FROM actions WHERE id = ?"), arguments: [id]) else {
            return nil
        }
        return ActionHeals(rule: row["heals_rule"], check: row["heals_check"])
    }

    /// When the incident an action serves resolves, the action is verified if it ran (a pending
    /// retry ran an earlier attempt) and no longer needed if it never started. A running action
    /// is left to its result: the runner verifies it then.
    func incidentResolved(_ incidentID: Int64, reason: String, now: Millis) throws {
        let waiting: [ActionState] = [.pending, .awaitingApproval, .verifying]
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, state, attempts FROM actions WHERE incident_id = ? AND state IN (\(ActionState.sqlList(waiting)))"),
            arguments: [incidentID])
        {
            let ran = (row["state"] as String) == ActionState.verifying.rawValue || (row["attempts"] as Int) > 0
            try finish(row["id"], as: ran ? .verified : .cancelled, detail: ran ? "verified: \(reason)" : "no longer needed: \(reason)", now: now)
        }
    }

    /// Ends an action that is not running (verified or cancelled) and withdraws any command not
    /// yet handed out. False, and nothing recorded, if it could not move there.
    @discardableResult
    func finish(_ id: String, as state: ActionState, detail: String, now: Millis) throws -> Bool {
        guard try move(id, to: state, set: "detail = ?, updated_at = ?, next_attempt_at = NULL", [detail, now]) else { return false }
        try withdrawCommand(id)
        try CollectorTimeline.append(
            db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: state == .cancelled ? "cancelled, " + detail : detail)), at: now)
        return true
    }

    /// The runner's settling of a pending or verifying action: dry run, held for approval, or verified.
    @discardableResult
    func settle(_ id: String, as state: ActionState, detail: String, now: Millis) throws -> Bool {
        guard try move(id, to: state, set: "updated_at = ?, next_attempt_at = NULL, detail = ?", [now, detail]) else { return false }
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail)), at: now)
        return true
    }

    /// A person approves an action waiting for approval: it runs at the next pass. False if it was not waiting.
    func approve(_ id: String, by: String, now: Millis) throws -> Bool {
        guard try move(id, from: [.awaitingApproval], to: .pending, set: "approved_by = ?, next_attempt_at = ?, updated_at = ?, detail = 'approved'", [by, now, now])
        else { return false }
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "approved by token \(by)")), at: now)
        return true
    }

    /// Starts attempt `attempt` of a pending action: running until `giveUpAt`, counted against the
    /// guardrails' hour. False, and nothing recorded, if it is no longer pending.
    func markRunning(_ id: String, attempt: Int, giveUpAt: Millis, detail: String, started: String, now: Millis) throws -> Bool {
        guard
            try move(
                id, to: .running, set: "attempts = ?, updated_at = ?, next_attempt_at = ?, detail = ?, result_outcome = NULL",
                [attempt, now, giveUpAt, detail])
        else { return false }
        try db.execute(sql: "INSERT INTO action_starts (action_id, at) VALUES (?, ?)", arguments: [id, now])
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: started)), at: now)
        return true
    }

    /// A running action succeeded: it is verified by `verifyBy` or retried.
    func markVerifying(_ id: String, verifyBy: Millis, detail: String, now: Millis) throws {
        guard try move(id, from: [.running], to: .verifying, set: "updated_at = ?, next_attempt_at = ?, detail = ?", [now, verifyBy, detail + "; verifying"])
        else { return }
        try withdrawCommand(id)
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail + "; verifying")), at: now)
    }

    /// A failed attempt to try again at `next`; `detail` says why and when.
    @discardableResult
    func retry(_ id: String, at next: Millis, detail: String, failure: String, now: Millis) throws -> Bool {
        try withdrawCommand(id)
        guard try move(id, from: [.running, .verifying], to: .pending, set: "updated_at = ?, next_attempt_at = ?, detail = ?", [now, next, detail])
        else { return false }
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "\(failure); will retry")), at: now)
        return true
    }

    /// Attempts spent (or one that cannot succeed): a person must look.
    @discardableResult
    func escalate(_ id: String, why: String, now: Millis) throws -> Bool {
        try withdrawCommand(id)
        guard try move(id, to: .escalated, set: "updated_at = ?, next_attempt_at = NULL, detail = ?", [now, why]) else { return false }
        try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "escalated: \(why)")), at: now)
        return true
    }

    /// Webhook calls in flight when the collector stopped: pending again and due now, keeping
    /// their attempt number. Returns their ids.
    func requeueInterruptedCalls(detail: String, now: Millis) throws -> [String] {
        let ids = try String.fetchAll(
            db, sql: "SELECT id FROM actions WHERE state = '\(ActionState.running.rawValue)' AND kind = 'webhook' ORDER BY id")
        for id in ids {
            guard
                try move(
                    id, from: [.running], to: .pending,
                    set: "attempts = MAX(attempts - 1, 0), updated_at = ?, next_attempt_at = ?, detail = ?, result_outcome = NULL", [now, now, detail])
            else { continue }
            try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "interrupted: \(detail)")), at: now)
        }
        return ids
    }

    /// An agent's result for its running command, kept for the runner's next pass (the first
    /// result counts). Not a state change: the runner moves the action on.
    func recordAgentResult(_ id: String, outcome: String, detail: String) throws {
        try db.cachedStatement(
            sql: """
                UPDATE actions SET result_outcome = ?, result_detail = ?
                WHERE id = ? AND kind = 'agent' AND state = '\(ActionState.running.rawValue)' AND result_outcome IS NULL
                """
        ).execute(arguments: [outcome, detail, id])
    }

    /// One guarded state change: `id` moves to `target` only from `sources` (by default every
    /// state `target` may be reached from). Returns whether it moved.
    private func move(
        _ id: String, from sources: [ActionState]? = nil, to target: ActionState, set assignments: String, _ arguments: [(any DatabaseValueConvertible)?]
    ) throws -> Bool {
        let sources = (sources ?? ActionState.predecessors(of: target)).filter { $0.successors.contains(target) }
        guard !sources.isEmpty else { return false }
        try db.execute(
            sql: "UPDATE actions SET state = ?, \(assignments) WHERE id = ? AND state IN (\(ActionState.sqlList(sources)))",
            arguments: StatementArguments([target.rawValue] + arguments + [id]))
        return db.changesCount == 1
    }

    private func withdrawCommand(_ id: String) throws {
        try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [id])
    }
}
