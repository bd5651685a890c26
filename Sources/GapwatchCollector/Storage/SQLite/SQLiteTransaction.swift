import GRDB
import GapwatchProtocol

/// `StoreTransaction` on SQLite: the stores over GRDB's `Database` of one pool transaction.
struct SQLiteTransaction: StoreTransaction {
    let db: Database

    var checks: CheckStore { SQLiteCheckStore(db: db) }
    func incidents(notifyWaitMs: Millis, hasChannels: Bool) -> IncidentStore {
        SQLiteIncidentStore(db: db, notifyWaitMs: notifyWaitMs, hasChannels: hasChannels)
    }
    var incidentReads: IncidentReads { SQLiteIncidentReads(db: db) }
    var silences: SilenceStore { SQLiteSilenceStore(db: db) }
    var deliveries: DeliveryStore { SQLiteDeliveryStore(db: db) }
    var actions: ActionTable { SQLiteActionTable(db: db) }
    var jobs: JobTable { SQLiteJobTable(db: db) }
    var schedulerFacts: SchedulerFacts { SQLiteSchedulerFacts(db: db) }
    var agents: AgentTable { SQLiteAgentTable(db: db) }
    var streams: StreamTable { SQLiteStreamTable(db: db) }
    var tokens: TokenTable { SQLiteTokenTable(db: db) }
    var factOwners: FactOwnerTable { SQLiteFactOwnerTable(db: db) }
    var rejectedAgents: RejectedAgentTable { SQLiteRejectedAgentTable(db: db) }
    var observations: ObservationStore { SQLiteObservationStore(db: db) }
    var datasetReads: DatasetReads { SQLiteDatasetReads(db: db) }
    var timelineReads: TimelineReads { SQLiteTimelineReads(db: db) }
    var retention: RetentionStore { SQLiteRetentionStore(db: db) }
    func observationWriter() throws -> ObservationWriter { try SQLiteObservationWriter(db: db) }
    func appendToCollectorTimeline(_ body: ObservationBody, at: Millis) throws {
        // Seqs come from streams.last_seq, not stream_seq_runs: no report can name '@collector',
        // so nothing is ever deduplicated against this stream.
        let agentID = CollectorTimeline.agentID
        guard
            let stream = try Row.fetchOne(
                db, sql: "UPDATE streams SET last_seq = last_seq + 1, last_seen = ? WHERE agent_id = ? RETURNING id, last_seq",
                arguments: [at, agentID])
        else { return }
        let name = body.subject(agentID: agentID)
        try db.execute(sql: "INSERT OR IGNORE INTO subjects (name) VALUES (?)", arguments: [name])
        let subjectID = try Int64.fetchOne(db, sql: "SELECT id FROM subjects WHERE name = ?", arguments: [name]) ?? 0
        let c = body.columns
        try db.execute(
            sql: """
                INSERT INTO observations (stream_id, seq, observed_at, received_lag, kind, subject_id, status, part, num, code, at1, at2, text, target)
                VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: StatementArguments(
                [stream["id"] as Int64, stream["last_seq"] as Int64, at, body.kind.storageCode, subjectID] as [(any DatabaseValueConvertible)?]
                    + c.arguments))
    }
}
