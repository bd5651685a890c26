import GapwatchProtocol
import GapwatchRules

/// A stuck-locks check (`stuck_locks:`): locks matching its pattern held past their expiry open an
/// incident each (rule stuck_lock, subject lock:NAME) and may be released. Several checks may
/// watch the same locks: each owns the incidents it opened. Evaluated when a lock sighting
/// arrives and every `recheck_interval`.
struct StuckLocksKind: ConfiguredRuleKind {
    let checkKind = "stuck_locks"
    let rules: [IncidentRule] = [.stuckLock]

    func configs(_ detector: Detector) -> [StuckLocksConfig] { detector.remediation.stuckLocks }

    func triggers(_ check: StuckLocksConfig) -> [CheckRouting.Trigger] { [.lock] }

    func expects(_ l: StuckLocksConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        var text = "no lock '\(l.pattern)' held past its expiry + \(Units.formatDuration(l.rule.slackMs))"
        if let maxAge = l.rule.maxAgeMs { text += ", nor longer than \(Units.formatDuration(maxAge))" }
        return (text, l.rule.slackMs)
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.resolveGone(tx, rule: .stuckLock, prefix: "lock:", current: [], reason: reason, now: now, check: name)
    }

    func evaluate(_ tx: StoreTransaction, _ check: StuckLocksConfig, check _: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        let remediation = detector.remediation
        let locks = try tx.jobs.locks().map(\.lock)
            .filter { globMatch(check.pattern, $0.name) }
        var current: Set<String> = []
        var next = now + remediation.recheckMs
        for lock in locks {
            guard let why = check.rule.stuckReason(lock, now: now) else {
                if let at = check.rule.stuckAt(lock) { next = min(next, max(at, now + 1)) }
                continue
            }
            let subject = "lock:\(lock.name)"
            current.insert(subject)
            let incident = try detector.incidents(tx).open(
                rule: IncidentRule.stuckLock.rawValue, subject: subject, reason: "lock \(lock.name) is stuck: \(why)",
                labels: ["check": name, "lock": lock.name], feederAgent: nil, at: now)
            if let actionName = check.release, let action = remediation.actions[actionName] {
                _ = try ActionQueue(tx: tx).enqueue(
                    action, key: Detector.releaseKey(lock.name), heals: ActionHeals(.stuckLocks, lock.name), incidentID: incident, origin: "rule",
                    parameters: detector.releaseParameters(lock),
                    now: now)
            }
        }
        try detector.resolveGone(
            tx, rule: .stuckLock, prefix: "lock:", current: current, reason: "the lock was released or renewed", now: now, check: name)
        return .judged(
            .remediation(
                current.isEmpty ? .up : .down, reason: current.isEmpty ? "no stuck lock" : "\(current.count) stuck", detail: current.sorted(),
                next: next))
    }

    /// A release is healed when the lock is free, or held by someone else or anew.
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? {
        guard let name = action.parameters["lock"], action.key == Detector.releaseKey(name) else { return nil }
        guard let lock = try tx.jobs.lock(name) else { return false }
        guard let holder = lock.holder else { return true }
        return holder != action.parameters["holder"] || lock.acquiredAt.map(String.init) != action.parameters["acquired_at"]
    }
}
