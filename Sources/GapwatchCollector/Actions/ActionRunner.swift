import Foundation
import GapwatchProtocol
import GapwatchSubprocess
import Logging

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
        let due = try await database.read { tx in
            try tx.actions.due(
                pending: ActionState.pending, now: now, skippingRules: full.rules.keys.sorted(), skippingTargets: full.targets.keys.sorted()
            )
            .map {
                (
                    action: $0.action, ActionScopes(rule: $0.scopes.rule, target: $0.scopes.target),
                    ActionHeals(rule: $0.healsRule, check: $0.healsCheck)
                )
            }
        }
        var started = 0
        for (action, scopes, heals) in due {
            guard let definition = config.actions[action.name] else {
                try fail(action, detail: "action '\(action.name)' is no longer in the config", retry: false, now: now)
                continue
            }
            if definition.mode == .dryRun {
                try settle(action.id, as: .dryRun, detail: "dry run: would run \(action.name) with \(describe(action.parameters))", now: now)
                continue
            }
            if definition.mode == .approval && action.approvedBy == nil {
                try settle(action.id, as: .awaitingApproval, detail: "waiting for `gapwatch actions approve \(action.id)`", now: now)
                continue
            }
            if action.approvedBy == nil, action.origin != "manual", let why = try approvalNeeded(action, heals, definition, now: now) {
                try settle(action.id, as: .awaitingApproval, detail: "\(why): waiting for `gapwatch actions approve \(action.id)`", now: now)
                logger.warning("action held for approval", metadata: ["action": "\(action.id)", "reason": "\(why)"])
                continue
            }
            guard load.allowsGlobal(config.guardrails) else { break }
            // A scope that filled up during this pass: the action waits for the next one.
            guard load.allows(scopes, config.guardrails) else { continue }
            guard try await start(action, definition, now: now) else { continue }
            load.started(scopes)
            started += 1
        }
        return started
    }

    /// Starts a pending action; false if it is no longer pending (settled meanwhile).
    private func start(_ action: ActionInfo, _ definition: ActionConfig, now: Millis) async throws -> Bool {
        let attempt = action.attempts + 1
        let started = try await database.write { tx in
            guard
                try ActionQueue(tx: tx).markRunning(
                    action.id, attempt: attempt, giveUpAt: now + definition.timeoutMs + 60_000,
                    detail: "attempt \(attempt) of \(action.maxAttempts) running",
                    started: "attempt \(attempt) started: \(action.name) \(describe(action.parameters))", now: now)
            else { return false }
            if case .agent(let agentID, let command, let templates) = definition.target {
                let parameters = templates.mapValues { fill($0, action.parameters, json: false) }
                let handOff = AgentCommand(
                    actionID: action.id, name: command, parameters: parameters, timeoutSeconds: Int(max(1, definition.timeoutMs / 1000)))
                try tx.actions.queueCommand(actionID: action.id, agentID: agentID, command: handOff)
            }
            return true
        }
        guard started else { return false }
        logger.notice("action started", metadata: ["action": "\(action.id)", "name": "\(action.name)", "attempt": "\(attempt)"])
        guard case .webhook = definition.target else { return true }
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
        return true
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
        let interrupted = try database.write { tx in
            try ActionQueue(tx: tx).requeueInterruptedCalls(
                detail: "the collector stopped while the webhook call was in flight; calling again under the same Idempotency-Key", now: now)
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
        let rows = try database.read { tx in
            try tx.actions.toFollowUp(running: ActionState.running, verifying: ActionState.verifying, now: now)
        }
        for row in rows {
            let action = row.action
            let incidentState = row.incidentState
            let definition = config.actions[action.name]
            if action.state == ActionState.running.rawValue {
                if let outcome = row.resultOutcome {
                    // A command's output usually ends in a newline: not part of the detail line.
                    let detail = (row.resultDetail ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                    if outcome == "ok" {
                        try succeeded(
                            action.id, detail: "agent ran \(action.name): ok\(detail.isEmpty ? "" : ": " + detail)",
                            verifyWithinMs: definition?.verifyWithinMs ?? 1_800_000, now: now)
                    } else {
                        // A refused command will be refused again: no point retrying it.
                        try fail(action, detail: "agent reported \(outcome): \(detail)", retry: outcome != "rejected", now: now)
                    }
                } else {
                    try fail(action, detail: "no result within the timeout", retry: true, now: now)
                }
            } else {
                let heals = ActionHeals(rule: row.healsRule, check: row.healsCheck)
                try followVerifying(action, heals: heals, incidentState: incidentState, definition: definition, now: now)
            }
        }
    }

    /// A verifying action is verified when the rule that owns it judges its subject fixed (a
    /// range's partitions, refreshed items final); with no such rule, when its incident resolves.
    /// A manual action no rule can judge counts as done once it succeeded (the detail says so),
    /// rather than holding its key forever.
    private func followVerifying(_ action: ActionInfo, heals: ActionHeals?, incidentState: String?, definition: ActionConfig?, now: Millis) throws {
        let healed = try healVerifier.verify?(action)
        if healed == true { return try settle(action.id, as: .verified, detail: "verified: \(healedText(action, heals: heals))", now: now) }
        if healed == nil {
            if action.incidentID == nil {
                return try settle(action.id, as: .verified, detail: "succeeded; no rule covers this action, so nothing was checked", now: now)
            }
            if incidentState == IncidentState.resolved.rawValue {
                return try settle(action.id, as: .verified, detail: "verified: the incident resolved", now: now)
            }
        }
        guard let due = action.nextAttemptAt, due <= now else { return }
        try fail(
            action, detail: "not verified within \(Units.formatDuration(definition?.verifyWithinMs ?? 0)): the condition is still there",
            retry: true, now: now)
    }

    /// What the rule saw that verified an action, for people: by the rule it heals, and for a
    /// job by the part the configured action plays in `scheduler_targets`.
    func healedText(_ action: ActionInfo, heals: ActionHeals?) -> String {
        if action.parameters["start"] != nil { return "every partition in range is complete" }
        switch heals?.rule {
        case .schedulerTargets:
            let roles = config.schedulerTargets
            if action.name == roles?.repoint {
                return "the scheduler's inventory shows the job's target at \(action.parameters["replacement"] ?? "its replacement")"
            }
            return "the scheduler's inventory shows the job \(action.name == roles?.reenable ? "enabled" : "disabled")"
        case .stuckLocks: return "the lock was seen free or held anew"
        case .completeness, .staleItems, .freshness, .expectation, nil: return "every refreshed item is final"
        }
    }

    /// Set by the detector at start-up: whether an action's subject is healed by its rule.
    let healVerifier = HealVerifierBox()

    private func succeeded(_ id: String, detail: String, verifyWithinMs: Millis, now: Millis) throws {
        try database.write { tx in try ActionQueue(tx: tx).markVerifying(id, verifyBy: now + verifyWithinMs, detail: detail, now: now) }
    }

    /// A failed attempt: retried after cooldown and backoff, or escalated once attempts are spent.
    private func fail(_ action: ActionInfo, detail: String, retry: Bool, notBefore: Millis? = nil, now: Millis) throws {
        let definition = config.actions[action.name]
        let attempts = max(action.attempts, 1)
        try database.write { tx in
            let queue = ActionQueue(tx: tx)
            if retry && attempts < action.maxAttempts {
                let backoff = min(3_600_000, (definition?.cooldownMs ?? 60_000) * Int64(1 << min(attempts - 1, 10)))
                let next = max(now + max(backoff, 1_000), notBefore ?? 0)  // honours Retry-After
                try queue.retry(
                    action.id, at: next, detail: "\(detail); retry \(attempts + 1) of \(action.maxAttempts) at \(TimeParsing.format(next))",
                    failure: detail, now: now)
                return
            }
            let why = retry ? "\(detail); gave up after \(attempts) attempt(s)" : detail
            guard try queue.escalate(action.id, why: why, now: now) else { return }
            if let incident = action.incidentID {
                try tx.incidents(notifyWaitMs: 0, hasChannels: hasChannels).escalate(
                    incident, reason: "needs a person: \(action.name) \(why)", at: now)
            }
        }
        logger.warning("action failed", metadata: ["action": "\(action.id)", "detail": "\(detail)"])
    }

    private func settle(_ id: String, as state: ActionState, detail: String, now: Millis) throws {
        try database.write { tx in try ActionQueue(tx: tx).settle(id, as: state, detail: detail, now: now) }
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
