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
        let subjects = try await database.read { tx in try tx.retention.subjectIDs() }
        var removed = 0
        var batches = 0
        for subject in subjects {
            while batches < maxBatches {
                let n = try await database.write { [batch] tx in try tx.retention.pruneBatch(subject: subject, before: cutoff, limit: batch) }
                batches += 1
                removed += n
                if n < batch { break }
                await Task.yield()
            }
            if batches >= maxBatches { break }
        }
        return removed
    }
}
