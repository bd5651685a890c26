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
        try CollectorTimeline.append(db, body: body, at: at)
    }
}
