import GRDB
import GapwatchProtocol

/// `DatasetReads` on SQLite.
struct SQLiteDatasetReads: DatasetReads {
    let db: Database

    /// The count observations of one dataset partition, newest first, through the counts index.
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [DatasetCountSighting] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT o.observed_at, o.num, st.agent_id FROM observations o JOIN streams st ON st.id = o.stream_id
                WHERE o.subject_id = (SELECT id FROM subjects WHERE name = ?) AND o.kind = \(ObservationKind.count.storageCode) AND o.part = ?
                ORDER BY o.observed_at DESC LIMIT ?
                """, arguments: [subject, partition, limit]
        ).map { DatasetCountSighting(observedAt: $0["observed_at"], count: $0["num"], agentID: $0["agent_id"]) }
    }

    /// The newest decisions of every workflow since `since`: one indexed query (per-subject index
    /// over the workflow subjects), newest first, at most `limit`.
    func latestWorkflowDecisions(since: Millis, limit: Int) throws -> [WorkflowDecisionLine] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT o.observed_at, s.name AS subject, o.status, o.text, st.agent_id FROM observations o
                JOIN subjects s ON s.id = o.subject_id JOIN streams st ON st.id = o.stream_id
                WHERE o.subject_id IN (SELECT id FROM subjects WHERE name GLOB 'workflow:*') AND o.kind = ? AND o.observed_at >= ?
                ORDER BY o.observed_at DESC LIMIT ?
                """, arguments: [ObservationKind.decision.storageCode, since, limit]
        ).map {
            WorkflowDecisionLine(
                at: $0["observed_at"], subject: $0["subject"], decision: $0["status"] ?? "?", reason: $0["text"], agentID: $0["agent_id"])
        }
    }
}
