import GapwatchProtocol
import GapwatchRules
import Logging

/// The collector's checks: synced with the config and judged by their rule kinds
/// (`RuleRegistry`), evaluated by the `Evaluator`; pure rules from GapwatchRules decide. Also
/// what the API asks about checks (listing, pausing, gaps, an action's progress).
public final class Detector: Sendable {
    let database: AppDatabase
    let config: DetectionConfig
    /// When this collector process started: checks may not go down before start + grace.
    let startedAt: Millis
    let heartbeats: [String: HeartbeatCheckConfig]
    let expectations: [String: RunExpectationConfig]
    let remediation: RemediationConfig
    let logger: Logger
    let metrics: CollectorMetrics?

    public init(
        database: AppDatabase, config: DetectionConfig, remediation: RemediationConfig = RemediationConfig(), startedAt: Millis, logger: Logger,
        metrics: CollectorMetrics? = nil
    ) {
        self.metrics = metrics
        self.database = database
        self.config = config
        self.remediation = remediation
        self.startedAt = startedAt
        self.heartbeats = Dictionary(uniqueKeysWithValues: config.checks.map { ($0.name, $0) })
        self.expectations = Dictionary(uniqueKeysWithValues: config.expectations.map { ($0.name, $0) })
        self.logger = logger
    }

    var incidentWriterWait: Millis { config.notify.waitMs }

    func incidents(_ tx: StoreTransaction) -> IncidentStore {
        tx.incidents(notifyWaitMs: config.notify.waitMs, hasChannels: !config.notify.channels.isEmpty)
    }
}
