import GRDB
import GapwatchProtocol

// MARK: - Reads

/// Reads need no notification settings; pages and metrics use them directly.
struct SQLiteIncidentReads: IncidentReads {
    let db: Database
}

extension SQLiteIncidentReads {
    /// The open incidents of `rule` whose subject starts with `prefix` (columns id, subject);
    /// with `check`, only those that check opened (several may share a subject prefix).
    func listOpen(rule: String, subjectPrefix prefix: String, check: String? = nil) throws -> [Row] {
        let owner = check == nil ? "" : " AND json_extract(labels, '$.check') = ?"
        return try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT id, subject FROM incidents WHERE rule = ? AND state = \(IncidentState.open.sqlLiteral) AND subject >= ? AND subject < ?"
                    + owner),
            arguments: StatementArguments([rule, prefix, prefix + "\u{10FFFF}"] + (check.map { [$0] } ?? [])))
    }

    /// When the open incident for (rule, subject) opened; nil when none is open.
    func openedAt(rule: String, subject: String) throws -> Millis? {
        try Millis.fetchOne(
            db.cachedStatement(sql: "SELECT opened_at FROM incidents WHERE rule = ? AND subject = ? AND state = \(IncidentState.open.sqlLiteral)"),
            arguments: [rule, subject])
    }

    func isOpen(rule: String, subject: String) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM incidents WHERE rule = ? AND subject = ? AND state = \(IncidentState.open.sqlLiteral))",
            arguments: [rule, subject]) == true
    }

    func subject(id: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT subject FROM incidents WHERE id = ?", arguments: [id])
    }

    /// Open incidents per rule.
    func openCountByRule() throws -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: try Row.fetchAll(
                db, sql: "SELECT rule, COUNT(*) FROM incidents WHERE state = \(IncidentState.open.sqlLiteral) GROUP BY rule"
            ).map {
                ($0[0] as String, $0[1] as Int)
            })
    }

    /// The incidents of (rule, subject) open at any time since `since`, oldest first (columns
    /// opened_at, resolved_at, has_action: whether an action for it reached `state`).
    func withActionIn(state: String, rule: String, subject: String, openSince since: Millis, limit: Int) throws -> [Row] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT i.opened_at, i.resolved_at, EXISTS (SELECT 1 FROM actions a WHERE a.incident_id = i.id AND a.state = ?) AS has_action
                FROM incidents i WHERE i.rule = ? AND i.subject = ? AND (i.resolved_at IS NULL OR i.resolved_at >= ?)
                ORDER BY i.opened_at LIMIT ?
                """, arguments: [state, rule, subject, since, limit])
    }

    /// How many incidents there are (in `state` when given).
    func count(state: String?) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incidents WHERE ?1 IS NULL OR state = ?1", arguments: [state]) ?? 0
    }

    /// Incidents open at some time in [from, to) whose subject is `subject` or that carry
    /// `bareName` as a label value, by id.
    func mentioning(subject: String, bareName: String, from: Millis, to: Millis, limit: Int) throws -> [Int64] {
        try Int64.fetchAll(
            db,
            sql: """
                SELECT id FROM incidents WHERE (subject = ?1 OR EXISTS (SELECT 1 FROM json_each(labels) WHERE value = ?2))
                  AND opened_at < ?4 AND (resolved_at IS NULL OR resolved_at >= ?3)
                ORDER BY id LIMIT ?5
                """, arguments: [subject, bareName, from, to, limit])
    }
}
