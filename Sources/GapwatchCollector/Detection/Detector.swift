import GRDB
import GapwatchProtocol
import GapwatchRules
import Logging

/// Which checks a stored observation feeds, handed to the ingest writer so the hot path updates
/// check facts without looking anything up.
struct CheckRouting: Sendable {
    struct PingTarget: Sendable {
        var checkID: Int64
        var service: String?
        var agentLabels: [String: String]
        /// Matched against what the agent's token or the config vouches for, never against the
        /// service and labels its report claims: a claim would satisfy any filter.
        func accepts(_ binding: AgentBinding) -> Bool { binding.matches(service: service, labels: agentLabels) }
        /// Whether only some agents may feed the check.
        var filtersAgents: Bool { service != nil || !agentLabels.isEmpty }
    }
    var livenessEnabled = false
    /// Ping name → checks listening to it.
    var pings: [String: [PingTarget]] = [:]
    /// Workflow → expectation checks to re-judge when a RUN arrives.
    var workflows: [String: [Int64]] = [:]
    /// Dataset → completeness checks to re-evaluate when a count arrives.
    var datasets: [String: [Int64]] = [:]
    /// Item kind → stale-item checks to re-evaluate when a status arrives.
    var itemKinds: [String: [Int64]] = [:]
    /// The job-targets check, re-evaluated when an inventory changes or a target's health
    /// crosses a threshold (failures in a row reaching `jobFailures`, the first success, or
    /// `jobReenableAfter` successes).
    var jobTargets: Int64?
    var jobFailures = Int.max
    var jobReenableAfter = Int.max
    /// Stuck-lock checks, re-evaluated when a lock sighting arrives.
    var locks: [Int64] = []
    /// A probe's failed runs in a row that open its incident; 0: probe checks are off.
    var probeFailuresAfter = 0
    /// How far an observation may be dated after its receive time (`clock_skew.tolerance`).
    var clockToleranceMs = ClockSkewConfig.defaultToleranceMs
    /// Whether agents whose clocks are off get a clock check (`clock_skew.incidents`).
    var clockChecks = false
}

/// Rule names: they key incidents (rule + subject) and are what silences match.
enum RuleName {
    static let heartbeat = "heartbeat"
    static let liveness = "liveness"
    static let workflowGap = "workflow_gap"
    static let probeFailing = IncidentRule.probeFailing.rawValue
    static let clockSkew = IncidentRule.clockSkew.rawValue
}

/// Evaluates due checks: heartbeat checks, agents' liveness and run expectations. Pure rules
/// from GapwatchRules decide; this type reads the facts, writes the verdicts and opens or
/// resolves incidents in the same transaction.
public final class Detector: Sendable {
    let database: AppDatabase
    let config: DetectionConfig
    /// When this collector process started: checks may not go down before start + grace.
    let startedAt: Millis
    let heartbeats: [String: HeartbeatCheckConfig]
    let expectations: [String: RunExpectationConfig]
    let remediation: RemediationConfig
    let logger: Logger
    let metrics: CollectorMetrics?

    public init(
        database: AppDatabase, config: DetectionConfig, remediation: RemediationConfig = RemediationConfig(), startedAt: Millis, logger: Logger,
        metrics: CollectorMetrics? = nil
    ) {
        self.metrics = metrics
        self.database = database
        self.config = config
        self.remediation = remediation
        self.startedAt = startedAt
        self.heartbeats = Dictionary(uniqueKeysWithValues: config.checks.map { ($0.name, $0) })
        self.expectations = Dictionary(uniqueKeysWithValues: config.expectations.map { ($0.name, $0) })
        self.logger = logger
    }

    var incidentWriterWait: Millis { config.notify.waitMs }

    func incidents(_ db: Database) -> IncidentWriter {
        IncidentWriter(db: db, notifyWaitMs: config.notify.waitMs, hasChannels: !config.notify.channels.isEmpty)
    }

    /// Brings the `checks` table in line with the config: new checks are created, every
    /// configured check is re-evaluated now, and checks removed from the config are deleted
    /// (their open incidents resolved). Returns the routing for the ingest writer.
    func syncConfig(now: Millis) throws -> CheckRouting {
        try database.pool.write { db in
            if !config.liveness.enabled {
                // Nothing feeds them any more: left alone they would go down and never resolve.
                for name in try String.fetchAll(db, sql: "SELECT name FROM checks WHERE kind = 'liveness'") {
                    try incidents(db).resolve(rule: RuleName.liveness, subject: name, reason: "liveness checks were turned off in the config", at: now)
                }
                try db.execute(sql: "DELETE FROM checks WHERE kind = 'liveness'")
            }
            try syncClockChecks(db, now: now)
            if config.probeFailures.after == 0 {
                for name in try String.fetchAll(db, sql: "SELECT name FROM checks WHERE kind = 'probe'") {
                    try incidents(db).resolve(rule: RuleName.probeFailing, subject: name, reason: "probe checks were turned off in the config", at: now)
                }
                try db.execute(sql: "DELETE FROM checks WHERE kind = 'probe'")
            } else {
                // The threshold may have changed: judge every probe again.
                try db.execute(sql: "UPDATE checks SET next_due = ? WHERE kind = 'probe' AND state != 'paused'", arguments: [now])
            }
            let existing = try Row.fetchAll(
                db, sql: "SELECT id, name, kind FROM checks WHERE kind IN ('heartbeat', 'expectation', 'completeness', 'stale_items', 'freshness', 'job_targets', 'stuck_locks')")
            let configuredKinds: [String: String] =
                Dictionary(uniqueKeysWithValues: heartbeats.keys.map { ($0, "heartbeat") } + expectations.keys.map { ($0, "expectation") }
                    + remediation.completeness.map { ($0.name, "completeness") } + remediation.staleItems.map { ($0.name, "stale_items") }
                    + remediation.freshness.map { ($0.name, "freshness") } + remediation.stuckLocks.map { ($0.name, "stuck_locks") }
                    + (remediation.schedulerTargets.map { [($0.name, "job_targets")] } ?? []))
            var ids: [String: Int64] = [:]
            for row in existing {
                let name: String = row["name"]
                let kind: String = row["kind"]
                if configuredKinds[name] == kind {
                    ids[name] = row["id"]
                    continue
                }
                try resolveIncidents(db, kind: kind, name: name, reason: "the check was removed from the config", now: now)
                try db.cachedStatement(sql: "DELETE FROM checks WHERE id = ?").execute(arguments: [row["id"] as Int64])
            }
            for (name, kind) in configuredKinds {
                if let id = ids[name] {
                    // A changed definition takes effect now; paused checks stay paused.
                    try db.cachedStatement(sql: "UPDATE checks SET next_due = ? WHERE id = ? AND state != 'paused'").execute(arguments: [now, id])
                } else {
                    try db.cachedStatement(sql: """
                            INSERT INTO checks (name, kind, state, created_at, changed_at, reason, next_due, judged_through)
                            VALUES (?, ?, 'new', ?, ?, 'created from the config', ?, ?)
                            """).execute(arguments: [name, kind, now, now, now, kind == "expectation" ? now : nil])
                    ids[name] = db.lastInsertedRowID
                }
            }
            var routing = CheckRouting()
            routing.livenessEnabled = config.liveness.enabled
            routing.probeFailuresAfter = config.probeFailures.after
            routing.clockToleranceMs = config.clockSkew.toleranceMs
            routing.clockChecks = config.clockSkew.incidents
            for check in config.checks {
                routing.pings[check.ping, default: []].append(
                    .init(checkID: ids[check.name]!, service: check.service, agentLabels: check.agentLabels))
            }
            for expectation in config.expectations {
                routing.workflows[expectation.rule.workflow, default: []].append(ids[expectation.name]!)
            }
            for check in remediation.completeness {
                for dataset in [check.rule.source, check.rule.derived] + (check.expectedFrom.map { [$0] } ?? []) {
                    routing.datasets[dataset, default: []].append(ids[check.name]!)
                }
            }
            for check in remediation.freshness {
                routing.datasets[check.rule.dataset, default: []].append(ids[check.name]!)
            }
            for check in remediation.staleItems {
                routing.itemKinds[check.rule.itemKind, default: []].append(ids[check.name]!)
            }
            if let targets = remediation.schedulerTargets {
                routing.jobTargets = ids[targets.name]!
                routing.jobFailures = targets.rule.failuresToOpen
                routing.jobReenableAfter = targets.rule.successesToReenable
            }
            routing.locks = remediation.stuckLocks.map { ids[$0.name]! }
            return routing
        }
    }

    /// What one evaluation pass did.
    public struct PassResult: Sendable {
        public var evaluated = 0
        public var changed = 0
        /// For each state change: how long after its deadline it was decided (ms).
        public var latenessMs: [Millis] = []
    }

    /// Evaluates every check due at `now` (at most `limit`), in one transaction.
    public func evaluateDue(now: Millis, limit: Int = 2000) throws -> PassResult {
        let began = WallClock.monotonicNanos()
        let pass = try database.pool.write { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM checks WHERE next_due <= ? ORDER BY next_due LIMIT ?"), arguments: [now, limit])
            var result = PassResult()
            for row in rows {
                result.evaluated += 1
                let kind: String = row["kind"]
                switch kind {
                case "heartbeat", "liveness":
                    if let lateness = try evaluateHeartbeat(db, row: row, now: now) {
                        result.changed += 1
                        result.latenessMs.append(lateness)
                    }
                case "expectation":
                    try evaluateExpectation(db, row: row, now: now)
                case "completeness":
                    try evaluateCompleteness(db, row: row, now: now)
                case "stale_items":
                    try evaluateStaleItems(db, row: row, now: now)
                case "freshness":
                    try evaluateFreshness(db, row: row, now: now)
                case "job_targets":
                    try evaluateJobTargets(db, row: row, now: now)
                case "stuck_locks":
                    try evaluateStuckLocks(db, row: row, now: now)
                case "probe":
                    try evaluateProbe(db, row: row, now: now)
                case "clock_skew":
                    try evaluateClock(db, row: row, now: now)
                default:
                    try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [row["id"] as Int64])
                }
            }
            return result
        }
        metrics?.evaluationPass(evaluated: pass.evaluated, began: began)
        return pass
    }

    /// The earliest next_due, for the loop's sleep.
    func earliestDue() throws -> Millis? {
        try database.pool.read { db in try Millis.fetchOne(db, sql: "SELECT MIN(next_due) FROM checks WHERE next_due IS NOT NULL") }
    }

    private func heartbeatRule(kind: String, name: String) -> (HeartbeatRule, [String: String])? {
        if kind == "liveness" { return (config.liveness.rule, [:]) }
        guard let check = heartbeats[name] else { return nil }
        return (check.rule, check.labels)
    }

    /// Returns the lateness (ms past the deadline) when the state changed to down by deadline.
    private func evaluateHeartbeat(_ db: Database, row: Row, now: Millis) throws -> Millis? {
        let id: Int64 = row["id"]
        let name: String = row["name"]
        let kind: String = row["kind"]
        let dueBefore: Millis? = row["next_due"]
        guard let (rule, checkLabels) = heartbeatRule(kind: kind, name: name),
            let current = CheckState(rawValue: row["state"])
        else {
            try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [id])
            return nil
        }
        let facts = HeartbeatFacts(
            since: row["created_at"], lastPingAt: row["last_ping_at"], lastStartAt: row["last_start_at"],
            lastFailAt: row["last_fail_at"], lastFailReason: row["last_fail_reason"])
        // After a start, signals from while the collector was down may still be in agents' spools,
        // and an agent that backed off retries up to its backoff_max later: a check whose last
        // signal predates the start waits for that and one grace. (The fault suite's outage paged
        // every spooling agent with a hold-off of one grace.)
        let lastSignal = facts.lastPingAt ?? facts.since
        let holdOff = startedAt + rule.graceMs + (lastSignal < startedAt ? config.liveness.agentBackoffMaxMs : 0)
        let verdict = rule.evaluate(current: current, facts: facts, now: now, holdOffUntil: holdOff)
        let changed = verdict.state != current
        try db.cachedStatement(sql: "UPDATE checks SET state = ?, reason = ?, next_due = ?, changed_at = CASE WHEN ? THEN ? ELSE changed_at END WHERE id = ?").execute(arguments: [verdict.state.rawValue, verdict.reason, verdict.nextEvaluation, changed, now, id])
        guard changed else { return nil }

        let (ruleName, subject) = kind == "liveness" ? (RuleName.liveness, name) : (RuleName.heartbeat, "check:\(name)")
        let feeder: String? = (row["feeder_agent_id"] as String?).flatMap { $0 == "*" ? nil : $0 }
        if verdict.state == .down {
            var labels = checkLabels
            if kind == "liveness" {
                let agentID = String(name.dropFirst("agent:".count))
                labels["agent"] = agentID
                if let service = try String.fetchOne(db.cachedStatement(sql: "SELECT service FROM agents WHERE id = ?"), arguments: [agentID]) {
                    labels["service"] = service
                }
            } else {
                labels["check"] = name
                if let feeder { labels["agent"] = feeder }
            }
            try incidents(db).open(
                rule: ruleName, subject: subject, reason: verdict.reason, labels: labels,
                feederAgent: kind == "liveness" ? nil : feeder, at: now)
            logger.notice("check down", metadata: ["check": "\(name)", "reason": "\(verdict.reason)"])
            return dueBefore.map { max(0, now - $0) }
        }
        if current == .down {
            try incidents(db).resolve(rule: ruleName, subject: subject, reason: verdict.reason, at: now)
            logger.notice("check up", metadata: ["check": "\(name)", "reason": "\(verdict.reason)"])
        }
        return nil
    }

    private func evaluateExpectation(_ db: Database, row: Row, now: Millis) throws {
        let id: Int64 = row["id"]
        let name: String = row["name"]
        guard let expectation = expectations[name] else {
            try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [id])
            return
        }
        if row["state"] as String == CheckState.paused.rawValue { return }
        let rule = expectation.rule
        let subject = "expectation:\(name)"
        let judgedThrough: Millis = row["judged_through"] ?? row["created_at"]
        let windows = rule.windows.windowsClosing(after: judgedThrough, through: now - rule.graceMs)
        var state = CheckState(rawValue: row["state"]) ?? .new
        var reason: String = row["reason"]
        var through = judgedThrough
        for window in windows {
            let decisions = try self.decisions(db, workflow: rule.workflow, from: window.start, to: window.end)
            let count = try rule.condition.map { try partitionCount(db, dataset: $0.dataset, partition: window.partition) } ?? nil
            switch rule.judge(window, decisions: decisions, partitionCount: count) {
            case .ran(let at):
                reason = "window \(window.partition) ran at \(TimeParsing.format(at))"
                state = .up
                try incidents(db).resolve(rule: RuleName.workflowGap, subject: subject, reason: "a later window ran: \(reason)", at: now)
            case .notExpected(let why):
                reason = "window \(window.partition) not expected: \(why)"
            case .gap(let why):
                reason = why
                state = .down
                var labels = expectation.labels
                labels["workflow"] = rule.workflow
                labels["expectation"] = name
                let incident = try incidents(db).open(rule: RuleName.workflowGap, subject: subject, reason: why, labels: labels, feederAgent: nil, at: now)
                logger.notice("workflow gap", metadata: ["expectation": "\(name)", "reason": "\(why)"])
                // Run the missed window again; verified when its incident resolves (a RUN arrives).
                if let rerun = expectation.rerun, let action = remediation.actions[rerun] {
                    _ = try ActionQueue(db: db).enqueue(
                        action, key: "\(subject):rerun", heals: ActionHeals(.expectation, name), incidentID: incident, origin: "rule",
                        parameters: ["workflow": rule.workflow, "partition": window.partition], now: now)
                }
            }
            through = window.end
        }
        // A RUN after a gap (a catch-up run) resolves it, judged by observed time.
        if state == .down, let opened = try Millis.fetchOne(db.cachedStatement(sql: "SELECT opened_at FROM incidents WHERE rule = ? AND subject = ? AND state = 'open'"), arguments: [RuleName.workflowGap, subject]),
            let gapStart = rule.windows.opens.previous(atOrBefore: opened - rule.graceMs - rule.windows.durationMs),
            let run = try decisions(db, workflow: rule.workflow, from: gapStart, to: .max).first(where: { $0.decision == .run })
        {
            state = .up
            reason = "caught up: RUN at \(TimeParsing.format(run.observedAt))"
            try incidents(db).resolve(rule: RuleName.workflowGap, subject: subject, reason: reason, at: now)
        }
        let nextClose = rule.windows.nextClose(after: through).map { $0 + rule.graceMs }
        try db.cachedStatement(sql: """
                UPDATE checks SET state = ?, reason = ?, judged_through = ?, next_due = ?,
                    changed_at = CASE WHEN state != ? THEN ? ELSE changed_at END WHERE id = ?
                """).execute(arguments: [state.rawValue, reason, through, nextClose, state.rawValue, now, id])
    }

    func decisions(_ db: Database, workflow: String, from: Millis, to: Millis) throws -> [DecisionSighting] {
        try Row.fetchAll(db.cachedStatement(sql: """
                SELECT o.observed_at, o.status, o.text FROM observations o
                WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.observed_at >= ? AND o.observed_at < ?
                    AND o.kind = \(ObservationKind.decision.storageCode)
                ORDER BY o.observed_at
                """), arguments: ["workflow:\(workflow)", from, to]
        ).compactMap { row in
            guard let decision = WorkflowDecision.Decision(rawValue: row["status"]) else { return nil }
            return DecisionSighting(observedAt: row["observed_at"], decision: decision, reason: row["text"])
        }
    }

    func partitionCount(_ db: Database, dataset: String, partition: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT o.num FROM observations o
                WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.kind = \(ObservationKind.count.storageCode) AND o.part = ?
                ORDER BY o.observed_at DESC LIMIT 1
                """), arguments: ["dataset:\(dataset)", partition])
    }

    /// An agent's probe (a command probe, its scheduler inventory, its lock listing): down, with an
    /// incident naming the probe and its last failure, once `probe_failures.after` runs in a row
    /// failed; up again at its next good run. A probe silent for `forget_after` is forgotten.
    private func evaluateProbe(_ db: Database, row: Row, now: Millis) throws {
        let id: Int64 = row["id"]
        let name: String = row["name"]
        let after = config.probeFailures.after
        guard after > 0, let current = CheckState(rawValue: row["state"]), current != .paused else {
            try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [id])
            return
        }
        let streak: Int64 = row["fail_streak"]
        let lastSignal = max(row["last_ping_at"] as Millis? ?? .min, row["last_fail_at"] as Millis? ?? .min, row["created_at"] as Millis)
        // "probe:AGENT/NAME": the agent id holds no '/'.
        let rest = name.dropFirst("probe:".count)
        let agentID = String(rest.prefix(while: { $0 != "/" }))
        let probe = String(rest.dropFirst(agentID.count + 1))
        if ClampedTime.subtract(now, lastSignal) >= config.probeFailures.forgetAfterMs {
            try incidents(db).resolve(
                rule: RuleName.probeFailing, subject: name, reason: "the probe has not reported for \(Units.formatDuration(config.probeFailures.forgetAfterMs)); forgotten",
                at: now)
            try db.cachedStatement(sql: "DELETE FROM checks WHERE id = ?").execute(arguments: [id])
            return
        }
        var state = current
        var reason: String = row["reason"]
        if streak >= Int64(after) {
            let last = (row["last_fail_reason"] as String?) ?? "no detail"
            // Stable while the failure says the same thing: a longer streak is no news.
            reason = "probe '\(probe)' on agent \(agentID) failed \(after)+ runs in a row; last: \(last)"
            var labels = ["agent": agentID, "probe": probe]
            if let service = try String.fetchOne(db.cachedStatement(sql: "SELECT service FROM agents WHERE id = ?"), arguments: [agentID]), !service.isEmpty {
                labels["service"] = service
            }
            try incidents(db).open(rule: RuleName.probeFailing, subject: name, reason: reason, labels: labels, feederAgent: agentID, at: now)
            if current != .down { logger.notice("probe failing", metadata: ["agent.id": "\(agentID)", "probe": "\(probe)", "reason": "\(last)"]) }
            state = .down
        } else if streak == 0 && row["last_ping_at"] as Millis? != nil {
            if current == .down {
                try incidents(db).resolve(rule: RuleName.probeFailing, subject: name, reason: "probe '\(probe)' ran successfully again", at: now)
            }
            state = .up
            reason = "last run ok"
        } else if streak > 0 {
            reason = "\(streak) failed run(s) in a row (an incident at \(after))"
        }
        // Checked again later only to forget a probe that went silent.
        let next = ClampedTime.add(lastSignal, config.probeFailures.forgetAfterMs)
        try db.cachedStatement(
            sql: "UPDATE checks SET state = ?, reason = ?, next_due = ?, changed_at = CASE WHEN state != ? THEN ? ELSE changed_at END WHERE id = ?"
        ).execute(arguments: [state.rawValue, reason, max(next, now + 1), state.rawValue, now, id])
    }
}
