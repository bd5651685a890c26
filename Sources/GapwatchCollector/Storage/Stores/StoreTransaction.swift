import GapwatchProtocol

/// One storage transaction, as code outside `Storage/` sees it: every table family's store, each
/// protocol-typed, all working in this one transaction (`AppDatabase.read { tx in … }` /
/// `write { tx in … }`; a write commits everything its stores wrote, or nothing).
///
/// The contract a storage engine implements (SQLite today: `SQLiteTransaction`):
/// - Store methods are synchronous and run on the thread that runs the transaction's body. An
///   engine with an asynchronous client (PostgreSQL over postgres-nio) runs the body on a thread of
///   its own and waits there for each query's answer; it never blocks an event loop.
/// - What crosses the seam are records and plain values (`CheckRecord`, `ActionInfo`, tuples,
///   `Millis`…), never an engine's types (no GRDB `Database`, `Row` or statement).
/// - A store value is valid only inside the body that received it.
protocol StoreTransaction {
    var checks: CheckStore { get }
    /// Incidents and their outbox; `notifyWaitMs` delays an opening's notification (`notify.wait`),
    /// and with no channel (`hasChannels` false) nothing is pending.
    func incidents(notifyWaitMs: Millis, hasChannels: Bool) -> IncidentStore
    var incidentReads: IncidentReads { get }
    var silences: SilenceStore { get }
    var deliveries: DeliveryStore { get }
    var actions: ActionTable { get }
    var jobs: JobTable { get }
    var schedulerFacts: SchedulerFacts { get }
    var agents: AgentTable { get }
    var streams: StreamTable { get }
    var tokens: TokenTable { get }
    var factOwners: FactOwnerTable { get }
    var rejectedAgents: RejectedAgentTable { get }
    var observations: ObservationStore { get }
    var datasetReads: DatasetReads { get }
    var timelineReads: TimelineReads { get }
    var retention: RetentionStore { get }
    /// The ingest writer's insert; may prepare statements, hence throwing.
    func observationWriter() throws -> ObservationWriter
    /// Appends an observation to the collector's own timeline (`@collector`: action results,
    /// stream rebinds, notifications), in this transaction.
    func appendToCollectorTimeline(_ body: ObservationBody, at: Millis) throws
}
