import GapwatchProtocol
import GapwatchRules

/// An agent's liveness (`liveness:`): every stored observation is a sign of life; down when the
/// agent stops reporting (rule liveness, subject agent:ID). The ingest writer makes the check
/// (`agent:ID`) at the agent's first report.
struct LivenessKind: AutomaticRuleKind {
    static let kind = "liveness"
    let rules: [IncidentRule] = [.liveness]

    func expects(check name: String, _ detector: Detector) -> (text: String, graceMs: Millis)? {
        let rule = detector.config.liveness.rule
        return ("anything from the agent \(Detector.cadence(rule.expectation)) (\(Detector.grace(rule.graceMs)))", rule.graceMs)
    }

    func syncAutomaticChecks(_ tx: StoreTransaction, _ detector: Detector, now: Millis) throws {
        guard !detector.config.liveness.enabled else { return }
        // Nothing feeds them any more: left alone they would go down and never resolve.
        try retireChecks(tx, reason: "liveness checks were turned off in the config", detector, now: now)
    }

    func isLate(_ check: CheckRecord, _ detector: Detector, now: Millis) -> Bool {
        HeartbeatKind.isLate(check, rule: detector.config.liveness.rule, now: now)
    }

    func evaluate(_ tx: StoreTransaction, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        return try HeartbeatKind.judge(
            tx, check, rule: detector.config.liveness.rule, incident: (.liveness, name), feederAgent: nil, detector, now: now
        ) { tx in
            let agentID = String(name.dropFirst("agent:".count))
            var labels = ["agent": agentID]
            if let service = try tx.agents.service(of: agentID) {
                labels["service"] = service
            }
            return labels
        }
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.incidents(tx).resolve(rule: IncidentRule.liveness.rawValue, subject: name, reason: reason, at: now)
    }
}
