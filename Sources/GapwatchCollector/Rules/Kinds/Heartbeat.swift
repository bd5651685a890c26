import GapwatchProtocol
import GapwatchRules

/// A heartbeat check from `checks:`: down when its ping does not come in time or a run fails
/// (rule heartbeat, subject check:NAME). Pings are recorded on the check by the ingest writer.
struct HeartbeatKind: ConfiguredRuleKind {
    let checkKind = "heartbeat"
    let rules: [IncidentRule] = [.heartbeat]

    func configs(_ detector: Detector) -> [HeartbeatCheckConfig] { detector.config.checks }

    func config(named name: String, _ detector: Detector) -> HeartbeatCheckConfig? { detector.heartbeats[name] }

    func expects(_ check: HeartbeatCheckConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        var text = "a ping '\(check.ping)' " + Detector.cadence(check.rule.expectation)
        if let service = check.service { text += " from service \(service)" }
        if !check.agentLabels.isEmpty {
            text += " from agents with " + check.agentLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        }
        return (text + " (\(Detector.grace(check.rule.graceMs)))", check.rule.graceMs)
    }

    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector) {
        for check in detector.config.checks {
            guard let id = ids[check.name] else { continue }
            routing.pings[check.ping, default: []].append(.init(checkID: id, service: check.service, agentLabels: check.agentLabels))
        }
    }

    func evaluate(_ tx: StoreTransaction, _ check: HeartbeatCheckConfig, check stored: CheckRecord, _ detector: Detector, now: Millis) throws
        -> Verdict
    {
        let name = check.name
        let feeder = stored.feederAgentID.flatMap { $0 == "*" ? nil : $0 }
        return try Self.judge(
            tx, stored, rule: check.rule, incident: (.heartbeat, "check:\(name)"), feederAgent: feeder, detector, now: now
        ) { _ in
            var labels = check.labels
            labels["check"] = name
            if let feeder { labels["agent"] = feeder }
            return labels
        }
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.incidents(tx).resolve(rule: IncidentRule.heartbeat.rawValue, subject: "check:\(name)", reason: reason, at: now)
    }

    func isLate(_ check: CheckRecord, _ detector: Detector, now: Millis) -> Bool {
        detector.heartbeats[check.name].map { Self.isLate(check, rule: $0.rule, now: now) } ?? false
    }

    /// Whether a heartbeat-shaped check (a configured heartbeat, an agent's liveness) is late by `rule`.
    static func isLate(_ check: CheckRecord, rule: HeartbeatRule, now: Millis) -> Bool {
        guard let state = check.state, state == .up || state == .new else { return false }
        return rule.evaluate(current: state, facts: HeartbeatFacts(since: check.createdAt, lastPingAt: check.lastPingAt), now: now).late
    }

    /// Judges a heartbeat-shaped check (a configured heartbeat, an agent's liveness) by `rule`:
    /// opens its incident (with `labels`) when it goes down, resolves it when it comes back.
    static func judge(
        _ tx: StoreTransaction, _ check: CheckRecord, rule: HeartbeatRule, incident: (rule: IncidentRule, subject: String), feederAgent: String?,
        _ detector: Detector, now: Millis, labels: (StoreTransaction) throws -> [String: String]
    ) throws -> Verdict {
        let name = check.name
        let dueBefore = check.nextDue
        guard let current = check.state else { return .unjudgeable }
        let facts = HeartbeatFacts(
            since: check.createdAt, lastPingAt: check.lastPingAt, lastStartAt: check.lastStartAt,
            lastFailAt: check.lastFailAt, lastFailReason: check.lastFailReason)
        // After a start, signals from while the collector was down may still be in agents' spools,
        // and an agent that backed off retries up to its backoff_max later: a check whose last
        // signal predates the start waits for that and one grace. (The fault suite's outage paged
        // every spooling agent with a hold-off of one grace.)
        let lastSignal = facts.lastPingAt ?? facts.since
        let startedAt = detector.startedAt
        let holdOff = startedAt + rule.graceMs + (lastSignal < startedAt ? detector.config.liveness.agentBackoffMaxMs : 0)
        let verdict = rule.evaluate(current: current, facts: facts, now: now, holdOffUntil: holdOff)
        var judgement = CheckJudgement(state: verdict.state, reason: verdict.reason, nextDue: verdict.nextEvaluation)
        guard verdict.state != current else { return .judged(judgement) }

        if verdict.state == .down {
            try detector.incidents(tx).open(
                rule: incident.rule.rawValue, subject: incident.subject, reason: verdict.reason, labels: try labels(tx), feederAgent: feederAgent,
                at: now)
            detector.logger.notice("check down", metadata: ["check": "\(name)", "reason": "\(verdict.reason)"])
            judgement.latenessMs = dueBefore.map { max(0, now - $0) }
        } else if current == .down {
            try detector.incidents(tx).resolve(rule: incident.rule.rawValue, subject: incident.subject, reason: verdict.reason, at: now)
            detector.logger.notice("check up", metadata: ["check": "\(name)", "reason": "\(verdict.reason)"])
        }
        return .judged(judgement)
    }
}
