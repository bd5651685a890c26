import Foundation
import GRDB
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import ServiceLifecycle

/// Runs queued actions under the guardrails, and follows each to a verified end:
/// pending → (awaiting_approval →) running → verifying → verified, or back to pending for a
/// retry (after cooldown and backoff), or escalated to a person after `max_attempts`.
/// "Done" means the rule that fired the action re-evaluated clean (its incident resolved), never
/// merely that a command exited 0.
public final class ActionRunner: Sendable {
    let database: AppDatabase
    let config: RemediationConfig
    let notifyWaitMs: Millis
    let hasChannels: Bool
    let logger: Logger
    /// Who may report which facts: an action on a job or lock goes unattended only to an agent
    /// entitled to that fact.
    let ownership: OwnershipConfig

    public init(
        database: AppDatabase, config: RemediationConfig, detection: DetectionConfig, logger: Logger, ownership: OwnershipConfig = OwnershipConfig()
    ) {
        self.database = database
        self.config = config
        self.notifyWaitMs = detection.notify.waitMs
        self.hasChannels = !detection.notify.channels.isEmpty
        self.logger = logger
        self.ownership = ownership
    }

    /// One pass at `now`: follows running and verifying actions, then starts due pending ones,
    /// under the global guardrails and those of each action's rule and target. Actions of a scope
    /// that is full are not even read, so a flood in one scope cannot crowd the others out.
    @discardableResult
    public func runPass(now: Millis) async throws -> Int {
        try followUp(now: now)
        var load = try guardrailLoad(now: now)
        let full = load.fullScopes(config.guardrails)
        try noteWaiting(full, now: now)
        let due = try await database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM actions WHERE state = 'pending' AND next_attempt_at <= ?
                        AND COALESCE(scope_rule, '') NOT IN (SELECT value FROM json_each(?))
                        AND COALESCE(scope_target, '') NOT IN (SELECT value FROM json_each(?))
                    ORDER BY next_attempt_at LIMIT 50
                    """,
                arguments: [
                    now, String(decoding: ReportCodec.encode(full.rules.keys.sorted()), as: UTF8.self),
                    String(decoding: ReportCodec.encode(full.targets.keys.sorted()), as: UTF8.self),
                ]
            ).map { (ActionInfo(row: $0), ActionScopes(rule: $0["scope_rule"] ?? "", target: $0["scope_target"] ?? "")) }
        }
        var started = 0
        for (action, scopes) in due {
            guard let definition = config.actions[action.name] else {
                try fail(action, detail: "action '\(action.name)' is no longer in the config", retry: false, now: now)
                continue
            }
            if definition.mode == .dryRun {
                try settle(action.id, state: "dry_run", detail: "dry run: would run \(action.name) with \(describe(action.parameters))", now: now)
                continue
            }
            if definition.mode == .approval && action.approvedBy == nil {
                try settle(action.id, state: "awaiting_approval", detail: "waiting for `gapwatch actions approve \(action.id)`", now: now, keepDue: false)
                continue
            }
            if action.approvedBy == nil, action.origin != "manual", let why = try approvalNeeded(action, definition, now: now) {
                try settle(action.id, state: "awaiting_approval", detail: "\(why): waiting for `gapwatch actions approve \(action.id)`", now: now)
                logger.warning("action held for approval", metadata: ["action": "\(action.id)", "reason": "\(why)"])
                continue
            }
            guard load.allowsGlobal(config.guardrails) else { break }
            // A scope that filled up during this pass: the action waits for the next one.
            guard load.allows(scopes, config.guardrails) else { continue }
            try await start(action, definition, now: now)
            load.started(scopes)
            started += 1
        }
        return started
    }

    private func start(_ action: ActionInfo, _ definition: ActionConfig, now: Millis) async throws {
        let attempt = action.attempts + 1
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE actions SET state = 'running', attempts = ?, updated_at = ?, next_attempt_at = ?, detail = ?, result_outcome = NULL WHERE id = ?",
                arguments: [attempt, now, now + definition.timeoutMs + 60_000, "attempt \(attempt) of \(action.maxAttempts) running", action.id])
            try db.execute(sql: "INSERT INTO action_starts (action_id, at) VALUES (?, ?)", arguments: [action.id, now])
            try CollectorTimeline.append(
                db, body: .actionResult(ActionResult(actionID: action.id, outcome: .ok, outputTail: "attempt \(attempt) started: \(action.name) \(describe(action.parameters))")),
                at: now)
            if case .agent(let agentID, let command, let templates) = definition.target {
                let parameters = templates.mapValues { fill($0, action.parameters, json: false) }
                let handOff = AgentCommand(
                    actionID: action.id, name: command, parameters: parameters, timeoutSeconds: Int(max(1, definition.timeoutMs / 1000)))
                try db.execute(
                    sql: "INSERT OR REPLACE INTO agent_commands (action_id, agent_id, command, handed_at) VALUES (?, ?, ?, NULL)",
                    arguments: [action.id, agentID, String(decoding: ReportCodec.encode(handOff), as: UTF8.self)])
            }
        }
        logger.notice("action started", metadata: ["action": "\(action.id)", "name": "\(action.name)", "attempt": "\(attempt)"])
        guard case .webhook = definition.target else { return }
        // Each call runs in a task of its own: a slow endpoint holds one max_concurrent slot, not
        // the pass (follow-ups and other starts go on). A call cut off by a stop is called again
        // at the next start (`settleInterruptedCalls`).
        calls.start(action.id) { [self] in
            do {
                try await call(action, definition, attempt: attempt, now: now)
            } catch {
                logger.error("webhook action failed to record its outcome", metadata: ["action": "\(action.id)", "error": "\(error)"])
            }
        }
    }

    /// Calls a webhook action's endpoint and records the outcome.
    private func call(_ action: ActionInfo, _ definition: ActionConfig, attempt: Int, now: Millis) async throws {
        defer { calls.remove(action.id) }
        guard case .webhook(let method, let url, let headers, let body) = definition.target else { return }
        // One `Idempotency-Key` per action, the same on every attempt and on a call repeated after a
        // collector restart, so a receiver can drop a repeat; `Gapwatch-Attempt` tells a deliberate
        // retry (a new number) from a repeat of one call.
        let delivery = HTTPDelivery(
            method: method, url: url, idempotencyKey: "gapwatch-\(action.id)", extraHeaders: [("Gapwatch-Attempt", "\(attempt)")],
            configuredHeaders: headers, body: Array(fill(body, action.parameters, json: true).utf8), timeoutMs: definition.timeoutMs)
        let began = WallClock.monotonicNanos()
        let outcome = await delivery.send()
        // On the pass's clock (tests drive it), advanced by how long the call took.
        let done = now + Millis((WallClock.monotonicNanos() - began) / 1_000_000)
        switch outcome {
        case .delivered(let detail):
            try succeeded(action.id, detail: "\(action.name) answered \(detail)", verifyWithinMs: definition.verifyWithinMs, now: done)
        case .failed(let detail, let retryable, let retryAfterMs):
            // A 4xx other than 408/429 will fail the same way again: escalate at once.
            var current = action
            current.attempts = attempt
            try fail(current, detail: "\(action.name) failed: \(detail)", retry: retryable, notBefore: retryAfterMs.map { done + $0 }, now: done)
        }
    }

    /// At start: webhook calls that were in flight when the collector stopped (killed, power
    /// lost) died with it, and nothing will ever answer them. Each such action is settled at once
    /// as interrupted and due again now, keeping its attempt number (the call may have reached
    /// the receiver, which the same Idempotency-Key and attempt let it recognise), instead of
    /// holding a `max_concurrent` slot until its timeout and then counting as a failure.
    /// Returns how many were settled.
    @discardableResult
    public func settleInterruptedCalls(now: Millis) throws -> Int {
        let interrupted = try database.pool.write { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM actions WHERE state = 'running' AND kind = 'webhook' ORDER BY id")
            for id in ids {
                let detail = "the collector stopped while the webhook call was in flight; calling again under the same Idempotency-Key"
                try db.execute(
                    sql: """
                        UPDATE actions SET state = 'pending', attempts = MAX(attempts - 1, 0), updated_at = ?, next_attempt_at = ?,
                            detail = ?, result_outcome = NULL
                        WHERE id = ?
                        """, arguments: [now, now, detail, id])
                try CollectorTimeline.append(
                    db, body: .actionResult(ActionResult(actionID: id, outcome: .failed, outputTail: "interrupted: \(detail)")), at: now)
            }
            return ids
        }
        for id in interrupted { logger.notice("webhook action interrupted by a restart; calling again", metadata: ["action": "\(id)"]) }
        return interrupted.count
    }

    /// Webhook calls in flight, by action id.
    private let calls = CallTracker()

    /// Waits for every webhook call in flight (tests; graceful shutdown).
    public func waitForCalls() async {
        for task in calls.all() { await task.value }
    }

    /// Agent results that arrived, timeouts of running actions, verification deadlines.
    private func followUp(now: Millis) throws {
        let rows = try database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.*, i.state AS incident_state FROM actions a LEFT JOIN incidents i ON i.id = a.incident_id
                    WHERE (a.state = 'running' AND (a.result_outcome IS NOT NULL OR a.next_attempt_at <= ?)) OR a.state = 'verifying'
                    """, arguments: [now])
        }
        for row in rows {
            let action = ActionInfo(row: row)
            let incidentState: String? = row["incident_state"]
            let definition = config.actions[action.name]
            if action.state == "running" {
                if let outcome: String = row["result_outcome"] {
                    // A command's output usually ends in a newline: not part of the detail line.
                    let detail = (row["result_detail"] as String? ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                    if outcome == "ok" {
                        try succeeded(action.id, detail: "agent ran \(action.name): ok\(detail.isEmpty ? "" : ": " + detail)", verifyWithinMs: definition?.verifyWithinMs ?? 1_800_000, now: now)
                    } else {
                        // A refused command will be refused again: no point retrying it.
                        try fail(action, detail: "agent reported \(outcome): \(detail)", retry: outcome != "rejected", now: now)
                    }
                } else {
                    try fail(action, detail: "no result within the timeout", retry: true, now: now)
                }
            } else {
                try followVerifying(action, incidentState: incidentState, definition: definition, now: now)
            }
        }
    }

    /// A verifying action is verified when the rule that owns it judges its subject fixed (a
    /// range's partitions, refreshed items final); with no such rule, when its incident resolves.
    /// A manual action no rule can judge counts as done once it succeeded (the detail says so),
    /// rather than holding its key forever.
    private func followVerifying(_ action: ActionInfo, incidentState: String?, definition: ActionConfig?, now: Millis) throws {
        let healed = try healVerifier.verify?(action)
        if healed == true { return try settle(action.id, state: "verified", detail: "verified: \(Self.healedText(action))", now: now) }
        if healed == nil {
            if action.incidentID == nil {
                return try settle(
                    action.id, state: "verified", detail: "succeeded; no rule covers this action, so nothing was checked", now: now)
            }
            if incidentState == "resolved" { return try settle(action.id, state: "verified", detail: "verified: the incident resolved", now: now) }
        }
        guard let due = action.nextAttemptAt, due <= now else { return }
        try fail(
            action, detail: "not verified within \(Units.formatDuration(definition?.verifyWithinMs ?? 0)): the condition is still there",
            retry: true, now: now)
    }

    /// What the rule saw that verified an action, for people.
    static func healedText(_ action: ActionInfo) -> String {
        if action.parameters["start"] != nil { return "every partition in range is complete" }
        if action.key.hasPrefix("job:disable:") { return "the scheduler's inventory shows the job disabled" }
        if action.key.hasPrefix("job:enable:") { return "the scheduler's inventory shows the job enabled" }
        if action.key.hasPrefix("job:repoint:") { return "the scheduler's inventory shows the job's target at \(action.parameters["replacement"] ?? "its replacement")" }
        if action.key.hasPrefix("lock:release:") { return "the lock was seen free or held anew" }
        return "every refreshed item is final"
    }

    /// Set by the detector at start-up: whether an action's subject is healed by its rule.
    let healVerifier = HealVerifierBox()

    private func succeeded(_ id: String, detail: String, verifyWithinMs: Millis, now: Millis) throws {
        try database.pool.write { db in
            try db.execute(
                sql: "UPDATE actions SET state = 'verifying', updated_at = ?, next_attempt_at = ?, detail = ? WHERE id = ? AND state = 'running'",
                arguments: [now, now + verifyWithinMs, detail + "; verifying", id])
            try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [id])
            try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail + "; verifying")), at: now)
        }
    }

    /// A failed attempt: retried after cooldown and backoff, or escalated once attempts are spent.
    private func fail(_ action: ActionInfo, detail: String, retry: Bool, notBefore: Millis? = nil, now: Millis) throws {
        let definition = config.actions[action.name]
        let attempts = max(action.attempts, 1)
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [action.id])
            if retry && attempts < action.maxAttempts {
                let backoff = min(3_600_000, (definition?.cooldownMs ?? 60_000) * Int64(1 << min(attempts - 1, 10)))
                let next = max(now + max(backoff, 1_000), notBefore ?? 0)  // honours Retry-After
                try db.execute(
                    sql: "UPDATE actions SET state = 'pending', updated_at = ?, next_attempt_at = ?, detail = ? WHERE id = ?",
                    arguments: [now, next, "\(detail); retry \(attempts + 1) of \(action.maxAttempts) at \(TimeParsing.format(next))", action.id])
                try CollectorTimeline.append(
                    db, body: .actionResult(ActionResult(actionID: action.id, outcome: .failed, outputTail: "\(detail); will retry")), at: now)
                return
            }
            let why = retry ? "\(detail); gave up after \(attempts) attempt(s)" : detail
            try db.execute(
                sql: "UPDATE actions SET state = 'escalated', updated_at = ?, next_attempt_at = NULL, detail = ? WHERE id = ?",
                arguments: [now, why, action.id])
            try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: action.id, outcome: .failed, outputTail: "escalated: \(why)")), at: now)
            if let incident = action.incidentID {
                try db.execute(sql: "UPDATE incidents SET escalated = 1 WHERE id = ?", arguments: [incident])
                try IncidentWriter(db: db, notifyWaitMs: 0, hasChannels: hasChannels).addEvent(
                    incident, event: "escalated", old: "open", new: "open", reason: "needs a person: \(action.name) \(why)", at: now, notifyAt: now)
            }
        }
        logger.warning("action failed", metadata: ["action": "\(action.id)", "detail": "\(detail)"])
    }

    private func settle(_ id: String, state: String, detail: String, now: Millis, keepDue: Bool = false) throws {
        try database.pool.write { db in
            try db.execute(
                sql: "UPDATE actions SET state = ?, updated_at = ?, next_attempt_at = NULL, detail = ? WHERE id = ?",
                arguments: [state, now, detail, id])
            try CollectorTimeline.append(db, body: .actionResult(ActionResult(actionID: id, outcome: .ok, outputTail: detail)), at: now)
        }
    }
}

final class CallTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [String: Task<Void, Never>] = [:]

    /// Starts `work` and records it; the record exists before `work` can remove it.
    func start(_ id: String, _ work: @escaping @Sendable () async -> Void) {
        lock.withLock { tasks[id] = Task { await work() } }
    }
    func remove(_ id: String) { lock.withLock { _ = tasks.removeValue(forKey: id) } }
    func all() -> [Task<Void, Never>] { lock.withLock { Array(tasks.values) } }
}

/// Set once at start-up, before the runner's first pass; lets the runner ask the detector
/// whether an action's subject is healed (nil: no rule can judge it).
final class HealVerifierBox: @unchecked Sendable {
    var verify: (@Sendable (ActionInfo) throws -> Bool?)?
}

/// Fills `{start}`-style placeholders; in JSON bodies the values are JSON-escaped (without quotes:
/// the template puts them in a string).
func fill(_ template: String, _ values: [String: String], json: Bool) -> String {
    // A placeholder the rule has no value for is empty (`bypass_checks` is false), never sent as written.
    var values = values
    for name in RemediationConfig.placeholders where values[name] == nil { values[name] = name == "bypass_checks" ? "false" : "" }
    var out = template
    for (key, value) in values {
        var v = value
        if json {
            let encoded = String(decoding: ReportCodec.encode([value]), as: UTF8.self)  // ["..."]
            v = String(encoded.dropFirst(2).dropLast(2))
        }
        out = out.replacingOccurrences(of: "{\(key)}", with: v)
    }
    return out
}

/// The action loop.
struct ActionService: Service {
    let runner: ActionRunner
    let detector: Detector
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            do {
                try runner.settleInterruptedCalls(now: WallClock.nowMillis())
            } catch {
                logger.error("cannot settle webhook actions interrupted by the last stop", metadata: ["error": "\(error)"])
            }
            // The scheduled catch-up (e.g. every morning): every rule over its whole lookback.
            var nextCatchUp = runner.config.catchUp?.next(after: WallClock.nowMillis())
            while !Task.isCancelled {
                do {
                    let now = WallClock.nowMillis()
                    if let due = nextCatchUp, now >= due {
                        let checks = try await detector.scheduleCatchUp(now: now)
                        logger.notice("catch-up: re-evaluating every completeness and stale-item rule", metadata: ["checks": "\(checks)"])
                        nextCatchUp = runner.config.catchUp?.next(after: now)
                    }
                    try await runner.runPass(now: now)
                } catch {
                    logger.error("action pass failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
