/// The opened state of one collector process: its database, token store and ingest writer.
public struct CollectorRuntime: Sendable {
    public let config: CollectorConfig
    public let database: AppDatabase
    public let tokens: TokenStore
    public let writer: IngestWriter
    public let detector: Detector
    public let notifier: Notifier
    public let actions: ActionRunner
    public let metrics: CollectorMetrics
    /// Reports refused with 401/403: who, from where, why (bounded, flushed periodically).
    public let rejections: RejectedAgents
}
