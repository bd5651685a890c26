import GRDB
import GapwatchProtocol

/// Prunes raw observations older than the retention horizon, a subject at a time, in small
/// transactions. Each batch is folded into `daily_rollups` in the same transaction as its
/// delete, so nothing is lost between the two. Incidents, actions and checks live in their own
/// tables and are never pruned.
public struct Retention: Sendable {
    let database: AppDatabase
    let horizonMs: Millis
    let batch: Int

    public init(database: AppDatabase, horizonMs: Millis, batch: Int) {
        self.database = database
        self.horizonMs = horizonMs
        self.batch = max(1, batch)
    }

    /// One pruning pass at `now`: up to `maxBatches` batches; returns how many observations went.
    /// Between batches the writer is free, so ingest waits at most one batch.
    @discardableResult
    public func prune(now: Millis, maxBatches: Int = .max) async throws -> Int {
        let cutoff = now - horizonMs
        let subjects = try await database.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM subjects ORDER BY id") }
        var removed = 0
        var batches = 0
        for subject in subjects {
            while batches < maxBatches {
                let n = try await database.pool.write { db in try pruneBatch(db, subject: subject, before: cutoff) }
                batches += 1
                removed += n
                if n < batch { break }
                await Task.yield()
            }
            if batches >= maxBatches { break }
        }
        return removed
    }

    private func pruneBatch(_ db: Database, subject: Int64, before cutoff: Millis) throws -> Int {
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

extension AppDatabase {
    /// The daily rollups of `subject` from `fromDay` to `toDay` (YYYY-MM-DD, inclusive), by day.
    public func rollups(subject: String, fromDay: String, toDay: String) throws -> [DailyRollup] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.name, r.* FROM daily_rollups r JOIN subjects s ON s.id = r.subject_id
                    WHERE s.name = ? AND r.day >= ? AND r.day <= ? ORDER BY r.day, r.kind
                    """, arguments: [subject, fromDay, toDay]
            ).map { row in
                DailyRollup(
                    subject: row["name"], kind: ObservationKind(storageCode: row["kind"])?.rawValue ?? "unknown", day: row["day"],
                    observations: row["observations"], firstAt: row["first_at"], lastAt: row["last_at"], failed: row["failed"],
                    numMin: row["num_min"], numMax: row["num_max"], numSum: row["num_sum"])
            }
        }
    }
}
