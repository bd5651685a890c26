import GapwatchProtocol
import GapwatchRules

/// One evaluation pass: picks the due checks, has each one's kind judge it (reading its facts,
/// writing its incidents and actions) and applies the `Verdict` to the check, all in one
/// transaction.
struct Evaluator {
    let detector: Detector

    func pass(_ tx: StoreTransaction, now: Millis, limit: Int) throws -> Detector.PassResult {
        let rows = try tx.checks.due(now: now, limit: limit)
        var result = Detector.PassResult()
        for check in rows {
            result.evaluated += 1
            guard let kind = RuleRegistry.kind(of: check.kind) else {
                try apply(.unjudgeable, to: check.id, tx, now: now)
                continue
            }
            let verdict = try kind.evaluate(tx, check: check, detector, now: now)
            try apply(verdict, to: check.id, tx, now: now)
            if case .judged(let judgement) = verdict, let lateness = judgement.latenessMs {
                result.changed += 1
                result.latenessMs.append(lateness)
            }
        }
        return result
    }

    private func apply(_ verdict: Verdict, to id: Int64, _ tx: StoreTransaction, now: Millis) throws {
        let checks = tx.checks
        switch verdict {
        case .judged(let j):
            try checks.applyJudgement(
                id: id, state: j.state, reason: j.reason, nextDue: j.nextDue, detail: j.detail, judgedThrough: j.judgedThrough, now: now)
        case .unjudgeable:
            try checks.clearDue(id: id)
        case .unchanged:
            break
        case .forgotten:
            try checks.delete(id: id)
        }
    }
}

extension Detector {
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
        let pass = try database.write { tx in try Evaluator(detector: self).pass(tx, now: now, limit: limit) }
        metrics?.evaluationPass(evaluated: pass.evaluated, began: began)
        return pass
    }

    /// The earliest next_due, for the loop's sleep.
    func earliestDue() throws -> Millis? {
        try database.read { tx in try tx.checks.earliestDue() }
    }

    /// Resolves this check's open incidents whose subject is no longer among the current gaps,
    /// and settles the actions that served them.
    func resolveGone(
        _ tx: StoreTransaction, rule: IncidentRule, prefix: String, current: Set<String>, reason: String, now: Millis, check: String? = nil
    )
        throws
    {
        // `check`: only the incidents that check opened (several may share a subject prefix).
        let open = try tx.incidentReads.open(rule: rule.rawValue, subjectPrefix: prefix, check: check)
        for incident in open where !current.contains(incident.subject) {
            try incidents(tx).resolve(rule: rule.rawValue, subject: incident.subject, reason: reason, at: now)
            try ActionQueue(tx: tx).incidentResolved(incident.id, reason: reason, now: now)
        }
    }
}
