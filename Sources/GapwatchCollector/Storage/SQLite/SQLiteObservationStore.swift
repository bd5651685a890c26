import GRDB
import GapwatchProtocol
import GapwatchRules

/// What the rule kinds read from `subjects` and `observations`: the facts a check is judged by
/// (counts, decisions, item statuses, probes), inside the caller's transaction. The ingest
/// writer's side of these tables is `ObservationWriter`. Statements are cached: evaluation
/// passes read them per check.
struct SQLiteObservationStore: ObservationStore {
    let db: Database

    /// The id of the subject `name` (`dataset:NAME`, `workflow:NAME`…), if anything was ever stored under it.
    func subjectID(named name: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM subjects WHERE name = ?"), arguments: [name])
    }

    // MARK: - Counts

    /// The smallest partition key of a subject's counts strictly between `after` and `before`:
    /// one index seek, so a walk over the distinct keys of a window is a skip scan, not a read of
    /// every count in it.
    func nextCountPartition(subjectID: Int64, after: String, before: String) throws -> String? {
        try String.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT part FROM observations WHERE subject_id = ? AND kind = \(ObservationKind.count.storageCode) AND part > ? AND part < ?
                    ORDER BY part LIMIT 1
                    """), arguments: [subjectID, after, before])
    }

    /// The newest count of a subject's partition and when it was observed. An index-only walk of
    /// observations_counts (subject_id, part, observed_at, num): a GROUP BY with MAX would read
    /// every count a busy partition ever received.
    func newestCount(subjectID: Int64, partition: String) throws -> (count: Int64, observedAt: Millis)? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT num, observed_at FROM observations WHERE subject_id = ? AND kind = \(ObservationKind.count.storageCode) AND part = ?
                        ORDER BY observed_at DESC LIMIT 1
                        """), arguments: [subjectID, partition])
        else { return nil }
        return (row["num"], row["observed_at"])
    }

    /// The first sighting of `count` as a partition's current value: after the newest row holding
    /// another value. nil: no sighting (the caller falls back to the newest one's time).
    func firstSighting(ofCount count: Int64, subjectID: Int64, partition: String) throws -> Millis? {
        let kind = ObservationKind.count.storageCode
        return try Millis.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT observed_at FROM observations WHERE subject_id = ?1 AND kind = \(kind) AND part = ?2
                        AND observed_at > COALESCE((
                            SELECT observed_at FROM observations WHERE subject_id = ?1 AND kind = \(kind) AND part = ?2 AND num != ?3
                            ORDER BY observed_at DESC LIMIT 1), -9223372036854775808)
                    ORDER BY observed_at LIMIT 1
                    """), arguments: [subjectID, partition, count])
    }

    /// The latest count of a dataset's partition (a run window's condition).
    func latestCount(dataset: String, partition: String) throws -> Int64? {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT o.num FROM observations o
                    WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.kind = \(ObservationKind.count.storageCode) AND o.part = ?
                    ORDER BY o.observed_at DESC LIMIT 1
                    """), arguments: ["dataset:\(dataset)", partition])
    }

    /// When a dataset last got a count, of any partition.
    func lastCountAt(dataset: String) throws -> Millis? {
        try Millis.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT MAX(o.observed_at) FROM observations o
                    WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.kind = \(ObservationKind.count.storageCode)
                    """), arguments: ["dataset:\(dataset)"])
    }

    // MARK: - Decisions, items, probes

    /// A workflow's decisions observed in [from, to), oldest first; an unknown decision is skipped.
    func decisions(workflow: String, from: Millis, to: Millis) throws -> [DecisionSighting] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT o.observed_at, o.status, o.text FROM observations o
                    WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.observed_at >= ? AND o.observed_at < ?
                        AND o.kind = \(ObservationKind.decision.storageCode)
                    ORDER BY o.observed_at
                    """), arguments: ["workflow:\(workflow)", from, to]
        ).compactMap { row in
            guard let decision = WorkflowDecision.Decision(rawValue: row["status"]) else { return nil }
            return DecisionSighting(observedAt: row["observed_at"], decision: decision, reason: row["text"])
        }
    }

    /// The latest status of every item of `kind` seen since `since`.
    func itemSightings(kind: String, since: Millis) throws -> [ItemSighting] {
        let prefix = "item:\(kind)/"
        return try Row.fetchAll(
            db,
            sql: """
                SELECT s.name, o.status, o.at1, MAX(o.observed_at) AS at FROM subjects s
                JOIN observations o ON o.subject_id = s.id AND o.observed_at >= ? AND o.kind = \(ObservationKind.itemStatus.storageCode)
                WHERE s.name >= ? AND s.name < ?
                GROUP BY s.id
                """, arguments: [since, prefix, prefix + "\u{10FFFF}"]
        ).map { row in
            ItemSighting(
                itemID: String((row["name"] as String).dropFirst(prefix.count)), status: row["status"] ?? "", referenceTime: row["at1"],
                observedAt: row["at"])
        }
    }

    /// The subjects of agents' http probes (`target:URL`): their ids and URLs. Probed URLs are few.
    func probedTargets() throws -> [(subjectID: Int64, url: String)] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT id, name FROM subjects WHERE name >= 'target:' AND name < 'target;' LIMIT 10000")).map {
            ($0["id"], String(($0["name"] as String).dropFirst("target:".count)))
        }
    }

    /// The latest probe of a subject observed at or after `since`: when, and whether it was healthy.
    func latestProbe(subjectID: Int64, since: Millis) throws -> (observedAt: Millis, healthy: Bool)? {
        guard
            let probe = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT observed_at, status FROM observations WHERE subject_id = ? AND kind = \(ObservationKind.probe.storageCode) AND observed_at >= ?
                        ORDER BY observed_at DESC LIMIT 1
                        """), arguments: [subjectID, since])
        else { return nil }
        return (probe["observed_at"], (probe["status"] as String?) == "healthy")
    }
}
