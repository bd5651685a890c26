import GapwatchProtocol
import GapwatchRules

/// An agent's probe (a command probe, its scheduler inventory, its lock listing): down, with an
/// incident naming the probe and its last failure (rule probe_failing, subject probe:AGENT/PROBE),
/// once `probe_failures.after` runs in a row failed; up again at its next good run. A probe silent
/// for `forget_after` is forgotten. The ingest writer makes the check at the probe's first run and
/// counts its failures in a row.
struct ProbeFailuresKind: AutomaticRuleKind {
    static let kind = "probe"
    let rules: [IncidentRule] = [.probeFailing]

    func expects(check name: String, _ detector: Detector) -> (text: String, graceMs: Millis)? {
        let after = detector.config.probeFailures.after
        return ("the agent's probe runs without failing (an incident after \(after) failed run\(after == 1 ? "" : "s") in a row)", 0)
    }

    func syncAutomaticChecks(_ tx: StoreTransaction, _ detector: Detector, now: Millis) throws {
        if detector.config.probeFailures.after == 0 {
            try retireChecks(tx, reason: "probe checks were turned off in the config", detector, now: now)
        } else {
            // The threshold may have changed: judge every probe again.
            try tx.checks.markDue(kinds: [checkKind], now: now)
        }
    }

    func evaluate(_ tx: StoreTransaction, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        let config = detector.config.probeFailures
        let after = config.after
        let rule = IncidentRule.probeFailing.rawValue
        guard after > 0, let current = check.state, current != .paused else { return .unjudgeable }
        let streak = check.failStreak
        let lastSignal = max(check.lastPingAt ?? .min, check.lastFailAt ?? .min, check.createdAt)
        // "probe:AGENT/NAME": the agent id holds no '/'.
        let rest = name.dropFirst("probe:".count)
        let agentID = String(rest.prefix(while: { $0 != "/" }))
        let probe = String(rest.dropFirst(agentID.count + 1))
        if ClampedTime.subtract(now, lastSignal) >= config.forgetAfterMs {
            try detector.incidents(tx).resolve(
                rule: rule, subject: name, reason: "the probe has not reported for \(Units.formatDuration(config.forgetAfterMs)); forgotten", at: now)
            return .forgotten
        }
        var state = current
        var reason = check.reason
        if streak >= Int64(after) {
            let last = check.lastFailReason ?? "no detail"
            // Stable while the failure says the same thing: a longer streak is no news.
            reason = "probe '\(probe)' on agent \(agentID) failed \(after)+ runs in a row; last: \(last)"
            var labels = ["agent": agentID, "probe": probe]
            if let service = try tx.agents.service(of: agentID), !service.isEmpty {
                labels["service"] = service
            }
            try detector.incidents(tx).open(rule: rule, subject: name, reason: reason, labels: labels, feederAgent: agentID, at: now)
            if current != .down {
                detector.logger.notice("probe failing", metadata: ["agent.id": "\(agentID)", "probe": "\(probe)", "reason": "\(last)"])
            }
            state = .down
        } else if streak == 0 && check.lastPingAt != nil {
            if current == .down {
                try detector.incidents(tx).resolve(rule: rule, subject: name, reason: "probe '\(probe)' ran successfully again", at: now)
            }
            state = .up
            reason = "last run ok"
        } else if streak > 0 {
            reason = "\(streak) failed run(s) in a row (an incident at \(after))"
        }
        // Checked again later only to forget a probe that went silent.
        let next = ClampedTime.add(lastSignal, config.forgetAfterMs)
        return .judged(CheckJudgement(state: state, reason: reason, nextDue: max(next, now + 1)))
    }
}
