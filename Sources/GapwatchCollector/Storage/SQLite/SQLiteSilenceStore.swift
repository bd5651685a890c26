import GRDB
import GapwatchProtocol
import GapwatchRules

/// The only owner of `silences`. A silence is never removed: deleting one ends it (deleted_at),
/// kept for the record.
struct SQLiteSilenceStore: SilenceStore {
    let db: Database

    /// Stores a validated silence; returns its id.
    func insert(
        rule: String?, subject: String?, labelsJSON: String, startsAt: Millis, endsAt: Millis, comment: String, createdBy: String, now: Millis
    ) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO silences (rule, subject, labels, starts_at, ends_at, comment, created_by, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [rule, subject, labelsJSON, startsAt, endsAt, comment, createdBy, now])
        return db.lastInsertedRowID
    }

    /// Every silence, or (without `includeEnded`) those not deleted or expired at `now`.
    func list(includeEnded: Bool, now: Millis) throws -> [StoredSilence] {
        let condition = includeEnded ? "" : "WHERE deleted_at IS NULL AND ends_at > ?"
        return try Row.fetchAll(db, sql: "SELECT * FROM silences \(condition) ORDER BY id", arguments: includeEnded ? [] : [now]).map {
            StoredSilence(silence: Silence(row: $0), createdBy: $0["created_by"], createdAt: $0["created_at"], deletedAt: $0["deleted_at"])
        }
    }

    /// The silences in force at `now`.
    func active(now: Millis) throws -> [Silence] {
        try Row.fetchAll(db, sql: "SELECT * FROM silences WHERE deleted_at IS NULL AND starts_at <= ? AND ends_at > ?", arguments: [now, now])
            .map(Silence.init(row:))
    }

    /// Ends a live silence now. False when no such live silence exists.
    func end(id: Int64, now: Millis) throws -> Bool {
        try db.execute(sql: "UPDATE silences SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL AND ends_at > ?", arguments: [now, id, now])
        return db.changesCount == 1
    }
}

extension Silence {
    init(row: Row) {
        let labelsJSON: String = row["labels"]
        self.init(
            id: row["id"], rule: row["rule"], subject: row["subject"],
            labels: (try? ReportCodec.decode([String: String].self, from: Array(labelsJSON.utf8))) ?? [:],
            startsAt: row["starts_at"], endsAt: row["ends_at"], comment: row["comment"])
    }
}
