import GRDB
import GapwatchProtocol

/// `RetentionStore` on SQLite: a subject's oldest rows are the front of its primary-key range.
struct SQLiteRetentionStore: RetentionStore {
    let db: Database

    func subjectIDs() throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM subjects ORDER BY id")
    }

    /// Folds the subject's oldest observations before `cutoff` (at most `limit`) into
    /// `daily_rollups` and deletes them, in the caller's transaction; returns how many went.
    func pruneBatch(subject: Int64, before cutoff: Millis, limit batch: Int) throws -> Int {
        // The batch: the subject's oldest rows, the front of its range of the primary key.
        try db.execute(
            sql: """
                CREATE TEMP TABLE IF NOT EXISTS prune_batch (
                    subject_id INTEGER, observed_at INTEGER, stream_id INTEGER, seq INTEGER,
                    PRIMARY KEY (subject_id, observed_at, stream_id, seq)) WITHOUT ROWID
                """)
        try db.execute(sql: "DELETE FROM temp.prune_batch")
        try db.execute(
            sql: """
                INSERT INTO temp.prune_batch SELECT subject_id, observed_at, stream_id, seq FROM observations
                WHERE subject_id = ? AND observed_at < ? ORDER BY observed_at LIMIT ?
                """, arguments: [subject, cutoff, batch])
        let n = db.changesCount
        guard n > 0 else { return 0 }
        try db.execute(
            sql: """
                INSERT INTO daily_rollups (subject_id, kind, day, observations, first_at, last_at, failed, num_min, num_max, num_sum)
                SELECT o.subject_id, o.kind, strftime('%Y-%m-%d', o.observed_at / 1000, 'unixepoch'), COUNT(*), MIN(o.observed_at), MAX(o.observed_at),
                       COALESCE(SUM(o.status IN ('fail', 'unhealthy', 'FAIL', 'failed', 'timeout', 'rejected')), 0), MIN(o.num), MAX(o.num),
                       -- TOTAL, not SUM: a sum past 2^63 must not stop pruning; CAST holds it at the largest integer.
                       CASE WHEN COUNT(o.num) = 0 THEN NULL ELSE CAST(TOTAL(o.num) AS INTEGER) END
                FROM observations o JOIN temp.prune_batch b
                    ON b.subject_id = o.subject_id AND b.observed_at = o.observed_at AND b.stream_id = o.stream_id AND b.seq = o.seq
                GROUP BY 1, 2, 3
                ON CONFLICT (subject_id, kind, day) DO UPDATE SET
                    observations = observations + excluded.observations,
                    first_at = MIN(first_at, excluded.first_at), last_at = MAX(last_at, excluded.last_at),
                    failed = failed + excluded.failed,
                    num_min = MIN(COALESCE(num_min, excluded.num_min), COALESCE(excluded.num_min, num_min)),
                    num_max = MAX(COALESCE(num_max, excluded.num_max), COALESCE(excluded.num_max, num_max)),
                    num_sum = CAST(COALESCE(num_sum, 0) + COALESCE(excluded.num_sum, 0) AS INTEGER)
                """)
        try db.execute(
            sql: """
                DELETE FROM observations WHERE (subject_id, observed_at, stream_id, seq) IN
                    (SELECT subject_id, observed_at, stream_id, seq FROM temp.prune_batch)
                """)
        return n
    }
}
