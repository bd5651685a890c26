import GapwatchProtocol
import GapwatchRules

/// A freshness check (`freshness:`): a dataset with no new count for its max age opens an
/// incident (rule freshness, subject freshness:NAME) and queues a refresh. Evaluated when the
/// dataset gets a count and every `recheck_interval`.
struct FreshnessKind: ConfiguredRuleKind {
    let checkKind = "freshness"
    let rules: [IncidentRule] = [.freshness]

    func configs(_ detector: Detector) -> [FreshnessConfig] { detector.remediation.freshness }

    func triggers(_ check: FreshnessConfig) -> [CheckRouting.Trigger] { [.count(dataset: check.rule.dataset)] }

    func expects(_ f: FreshnessConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        ("a count of \(f.rule.dataset) at least every \(Units.formatDuration(f.rule.maxAgeMs))", 0)
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.resolveGone(tx, rule: .freshness, prefix: "freshness:\(name)", current: [], reason: reason, now: now)
    }

    func evaluate(_ tx: StoreTransaction, _ check: FreshnessConfig, check stored: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        let remediation = detector.remediation
        let lastUpdate = try tx.observations.lastCountAt(dataset: check.rule.dataset)
        let since = stored.createdAt
        let subject = "freshness:\(name)"
        let stale = check.rule.isStale(lastUpdate: lastUpdate, since: since, now: now)
        if stale {
            let reason =
                "\(check.rule.dataset) has not updated since \(lastUpdate.map(TimeParsing.format) ?? "it was first watched") (max age \(Units.formatDuration(check.rule.maxAgeMs)))"
            let incident = try detector.incidents(tx).open(
                rule: IncidentRule.freshness.rawValue, subject: subject, reason: reason, labels: ["check": name, "dataset": check.rule.dataset],
                feederAgent: nil, at: now)
            if let actionName = check.refresh, let action = remediation.actions[actionName] {
                _ = try ActionQueue(tx: tx).enqueue(
                    action, key: subject, heals: ActionHeals(.freshness, name), incidentID: incident, origin: "rule",
                    parameters: ["dataset": check.rule.dataset],
                    now: now)
            }
        } else {
            try detector.resolveGone(tx, rule: .freshness, prefix: subject, current: [], reason: "\(check.rule.dataset) updated", now: now)
        }
        let next = stale ? now + remediation.recheckMs : min(now + remediation.recheckMs, check.rule.staleAt(lastUpdate: lastUpdate, since: since))
        return .judged(.remediation(stale ? .down : .up, reason: stale ? "stale" : "fresh", detail: lastUpdate, next: max(next, now + 1)))
    }
}
