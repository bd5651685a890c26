import GapwatchProtocol
import GapwatchRules

/// The only place an action changes state. Works inside the caller's transaction; each move is
/// one guarded UPDATE along `ActionState.successors`, so a move from a state that no longer holds
/// (another owner settled the action meanwhile) changes nothing and says so by returning false.
/// Enqueue keeps the per-key guardrails: one in flight per key, a cooldown after the last attempt,
/// and nothing new once a key escalated to a person.
struct ActionQueue {
    let tx: StoreTransaction
    private var table: ActionTable { tx.actions }

    /// Queues `action` for `key` unless the key is in flight, cooling down, or escalated.
    /// `heals`: the rule and check that judge it healed (nil for what no rule queued).
    /// Returns the new action's id, or nil with the reason it was not queued.
    func enqueue(
        _ action: ActionConfig, key: String, heals: ActionHeals?, incidentID: Int64?, origin: String, parameters: [String: String], now: Millis,
        requestedBy: String? = nil
    ) throws -> (id: String?, reason: String) {
        // One in flight per key, and per action over overlapping date ranges (a manual backfill
        // and a rule's backfill of the same days would fight over the same rows).
        let start = parameters["start"]
        let end = parameters["end"]
        if let busy = try table.firstOverlapping(key: key, name: action.name, start: start, end: end, inFlight: ActionState.inFlight) {
            return (nil, "action \(busy.id) is already in flight for \(busy.key == key ? key : "an overlapping range (\(busy.key))")")
        }
        // A range that escalated waits for a person while its incident is open; other ranges of
        // the same incident keep healing.
        if let incidentID,
            let escalated = try table.firstOverlapping(
                key: key, name: action.name, start: start, end: end, incidentID: incidentID, state: ActionState.escalated)
        {
            return (nil, "action \(escalated) escalated for \(key) under incident \(incidentID): it waits for a person")
        }
        var notBefore = now
        if let last = try table.lastUpdate(key: key, excluding: ActionState.cancelled) {
            notBefore = max(notBefore, last + action.cooldownMs)
        }
        let number = try table.count() + 1
        let id = "act-\(number)-\(RandomID.make().prefix(8))"
        let kind: String = if case .webhook = action.target { "webhook" } else { "agent" }
        try table.insert(
            NewActionRow(
                id: id, name: action.name, kind: kind, key: key, incidentID: incidentID, origin: origin, parameters: parameters,
                maxAttempts: action.maxAttempts, createdAt: now, nextAttemptAt: notBefore,
                detail: notBefore > now ? "cooling down until \(TimeParsing.format(notBefore))" : "queued", requestedBy: requestedBy,
                scopeRule: ActionScope.rule(key: key, origin: origin), scopeTarget: ActionScope.target(action), healsRule: heals?.rule.rawValue,
                healsCheck: heals?.check),
            state: ActionState.pending)
        try CollectorTimeline.append(
            tx,
            body: .actionResult(
                ActionResult(
                    actionID: id, outcome: .ok,
                    outputTail:
                        "queued \(action.name) for \(key)\(incidentID.map { " (incident \($0))" } ?? "")\(requestedBy.map { ", asked by token \($0)" } ?? "") with \(describe(parameters))"
                )),
            at: now)
        return (id, "queued")
    }

    /// The rule and check an action heals, as enqueue recorded them.
    func heals(of id: String) throws -> ActionHeals? {
        guard let row = try table.heals(of: id) else { return nil }
        return ActionHeals(rule: row.rule, check: row.check)
    }

    /// When the incident an action serves resolves, the action is verified if it ran (a pending
    /// retry ran an earlier attempt) and no longer needed if it never started. A running action
    /// is left to its result: the runner verifies it then.
    func incidentResolved(_ incidentID: Int64, reason: String, now: Millis) throws {
        let waiting: [ActionState] = [.pending, .awaitingApproval, .verifying]
        for row in try table.ofIncident(incidentID, in: waiting) {
            let ran = row.state == ActionState.verifying.rawValue || row.attempts > 0
            try finish(row.id, as: ran ? .verified : .cancelled, detail: ran ? "verified: \(reason)" : "no longer needed: \(reason)", now: now)
        }
    }

    /// Ends an action that is not running (verified or cancelled) and withdraws any command not
    /// yet handed out. False, and nothing recorded, if it could not move there.
    @discardableResult
    func finish(_ id: String, as state: ActionState, detail: String, now: Millis) throws -> Bool {
        guard try move(id, to: state, ActionChange(detail: detail, updatedAt: now, nextAttemptAt: .some(nil))) else { return false }
        try withdrawCommand(id)
        try CollectorTimeline.append(
            tx, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: state == .cancelled ? "cancelled, " + detail : detail)),
            at: now)
        return true
    }

    /// The runner's settling of a pending or verifying action: dry run, held for approval, or verified.
    @discardableResult
    func settle(_ id: String, as state: ActionState, detail: String, now: Millis) throws -> Bool {
        guard try move(id, to: state, ActionChange(detail: detail, updatedAt: now, nextAttemptAt: .some(nil))) else { return false }
        try CollectorTimeline.append(tx, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail)), at: now)
        return true
    }

    /// A person approves an action waiting for approval: it runs at the next pass. False if it was not waiting.
    func approve(_ id: String, by: String, now: Millis) throws -> Bool {
        guard
            try move(
                id, from: [.awaitingApproval], to: .pending, ActionChange(detail: "approved", updatedAt: now, nextAttemptAt: now, approvedBy: by))
        else { return false }
        try CollectorTimeline.append(
            tx, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: "approved by token \(by)")), at: now)
        return true
    }

    /// Starts attempt `attempt` of a pending action: running until `giveUpAt`, counted against the
    /// guardrails' hour. False, and nothing recorded, if it is no longer pending.
    func markRunning(_ id: String, attempt: Int, giveUpAt: Millis, detail: String, started: String, now: Millis) throws -> Bool {
        guard
            try move(
                id, to: .running, ActionChange(detail: detail, updatedAt: now, nextAttemptAt: giveUpAt, attempts: attempt, clearResult: true))
        else { return false }
        try table.recordStart(id, at: now)
        try CollectorTimeline.append(tx, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: started)), at: now)
        return true
    }

    /// A running action succeeded: it is verified by `verifyBy` or retried.
    func markVerifying(_ id: String, verifyBy: Millis, detail: String, now: Millis) throws {
        guard try move(id, from: [.running], to: .verifying, ActionChange(detail: detail + "; verifying", updatedAt: now, nextAttemptAt: verifyBy))
        else { return }
        try withdrawCommand(id)
        try CollectorTimeline.append(tx, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail + "; verifying")), at: now)
    }

    /// A failed attempt to try again at `next`; `detail` says why and when.
    @discardableResult
    func retry(_ id: String, at next: Millis, detail: String, failure: String, now: Millis) throws -> Bool {
        try withdrawCommand(id)
        guard try move(id, from: [.running, .verifying], to: .pending, ActionChange(detail: detail, updatedAt: now, nextAttemptAt: next))
        else { return false }
        try CollectorTimeline.append(
            tx, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "\(failure); will retry")), at: now)
        return true
    }

    /// Attempts spent (or one that cannot succeed): a person must look.
    @discardableResult
    func escalate(_ id: String, why: String, now: Millis) throws -> Bool {
        try withdrawCommand(id)
        guard try move(id, to: .escalated, ActionChange(detail: why, updatedAt: now, nextAttemptAt: .some(nil))) else { return false }
        try CollectorTimeline.append(tx, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "escalated: \(why)")), at: now)
        return true
    }

    /// Webhook calls in flight when the collector stopped: pending again and due now, keeping
    /// their attempt number. Returns their ids.
    func requeueInterruptedCalls(detail: String, now: Millis) throws -> [String] {
        let ids = try table.webhookCalls(in: ActionState.running)
        for id in ids {
            guard
                try move(
                    id, from: [.running], to: .pending,
                    ActionChange(detail: detail, updatedAt: now, nextAttemptAt: now, returnAttempt: true, clearResult: true))
            else { continue }
            try CollectorTimeline.append(
                tx, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "interrupted: \(detail)")), at: now)
        }
        return ids
    }

    /// An agent's result for its running command, kept for the runner's next pass (the first
    /// result counts). Not a state change: the runner moves the action on.
    func recordAgentResult(_ id: String, outcome: String, detail: String) throws {
        try table.recordAgentResult(id, outcome: outcome, detail: detail, running: ActionState.running)
    }

    /// One guarded state change: `id` moves to `target` only from `sources` (by default every
    /// state `target` may be reached from). Returns whether it moved.
    private func move(_ id: String, from sources: [ActionState]? = nil, to target: ActionState, _ change: ActionChange) throws -> Bool {
        let sources = (sources ?? ActionState.predecessors(of: target)).filter { $0.successors.contains(target) }
        guard !sources.isEmpty else { return false }
        return try table.move(id, from: sources, to: target, change)
    }

    private func withdrawCommand(_ id: String) throws {
        try table.withdrawCommand(id)
    }
}
