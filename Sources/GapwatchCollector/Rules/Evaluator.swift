import GRDB
import GapwatchProtocol
import GapwatchRules

/// One evaluation pass: picks the due checks, has each one's kind judge it (reading its facts,
/// writing its incidents and actions) and applies the `Verdict` to the check, all in one
/// transaction.
struct Evaluator {
    let detector: Detector

    func pass(_ db: Database, now: Millis, limit: Int) throws -> Detector.PassResult {
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM checks WHERE next_due <= ? ORDER BY next_due LIMIT ?"), arguments: [now, limit])
        var result = Detector.PassResult()
        for row in rows {
            result.evaluated += 1
            let id: Int64 = row["id"]
            guard let kind = RuleRegistry.kind(of: row["kind"]) else {
                try apply(.unjudgeable, to: id, db, now: now)
                continue
            }
            let verdict = try kind.evaluate(db, check: row, detector, now: now)
            try apply(verdict, to: id, db, now: now)
            if case .judged(let judgement) = verdict, let lateness = judgement.latenessMs {
                result.changed += 1
                result.latenessMs.append(lateness)
            }
        }
        return result
    }

    private func apply(_ verdict: Verdict, to id: Int64, _ db: Database, now: Millis) throws {
        switch verdict {
        case .judged(let j):
            try db.cachedStatement(
                sql: """
                    UPDATE checks SET changed_at = CASE WHEN state != ?1 THEN ?2 ELSE changed_at END, state = ?1, reason = ?3, next_due = ?4,
                        detail = COALESCE(?5, detail), judged_through = COALESCE(?6, judged_through)
                    WHERE id = ?7
                    """
            ).execute(arguments: [j.state.rawValue, now, j.reason, j.nextDue, j.detail, j.judgedThrough, id])
        case .unjudgeable:
            try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [id])
        case .unchanged:
            break
        case .forgotten:
            try db.cachedStatement(sql: "DELETE FROM checks WHERE id = ?").execute(arguments: [id])
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
        let pass = try database.pool.write { db in try Evaluator(detector: self).pass(db, now: now, limit: limit) }
        metrics?.evaluationPass(evaluated: pass.evaluated, began: began)
        return pass
    }

    /// The earliest next_due, for the loop's sleep.
    func earliestDue() throws -> Millis? {
        try database.pool.read { db in try Millis.fetchOne(db, sql: "SELECT MIN(next_due) FROM checks WHERE next_due IS NOT NULL") }
    }

    /// Resolves this check's open incidents whose subject is no longer among the current gaps,
    /// and settles the actions that served them.
    func resolveGone(_ db: Database, rule: IncidentRule, prefix: String, current: Set<String>, reason: String, now: Millis, check: String? = nil) throws {
        // `check`: only the incidents that check opened (several may share a subject prefix).
        let owner = check == nil ? "" : " AND json_extract(labels, '$.check') = ?"
        let open = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, subject FROM incidents WHERE rule = ? AND state = 'open' AND subject >= ? AND subject < ?" + owner),
            arguments: StatementArguments([rule.rawValue, prefix, prefix + "\u{10FFFF}"] + (check.map { [$0] } ?? [])))
        for row in open where !current.contains(row["subject"] as String) {
            let subject: String = row["subject"]
            try incidents(db).resolve(rule: rule.rawValue, subject: subject, reason: reason, at: now)
            try ActionQueue(db: db).incidentResolved(row["id"], reason: reason, now: now)
        }
    }
}
