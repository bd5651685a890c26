import Foundation
import GapwatchProtocol
import GapwatchRules
import Metrics
import Prometheus

/// One collector's metrics, served by `GET /metrics` in the Prometheus text format.
///
/// Counters and histograms are recorded where things happen (ingest middleware and writer,
/// evaluation pass, notifier); the gauges that describe stored state (open incidents, actions by
/// state, file sizes) are read from the database and the file system at scrape time. Every
/// collector owns its registry: two collectors in one process keep separate counts.
public final class CollectorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: CollectorMetricsFactory

    /// Outcome label → counter; `ingestOutcome(status:)` names the outcome.
    private let ingestRequests: [String: Metrics.Counter]
    /// Refused reports by reason (`RejectedAgents` records who).
    private let ingestRejections: [RejectionReason: Metrics.Counter]
    private let ingestDuration: Metrics.Timer
    private let observationsStored: Metrics.Counter
    private let duplicates: Metrics.Counter
    /// Action results from an agent or stream their command was not handed to.
    private let refusedActionResults: Metrics.Counter
    /// Observations refused one by one (a 200's `refused`), by observation kind.
    private let refused: [ObservationKind: Metrics.Counter]
    private let ingestLag: Metrics.Timer
    private let evaluationDuration: Metrics.Timer
    private let checksEvaluated: Metrics.Counter
    private let databaseSize: Metrics.Gauge
    private let walSize: Metrics.Gauge
    /// Rules with an `incidents_open` series: once seen, a rule is reported (as 0) after its
    /// incidents resolve, so a dashboard sees the drop rather than a vanished series.
    private let incidentRules: LockedValue<Set<String>>
    /// Action states reported (as 0) before any action is in them.
    private let actionStates: [String]

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    static let ingestOutcomes = [
        "ok", "bad_request", "unauthorized", "forbidden", "too_large", "unsupported_media_type", "unavailable", "client_error",
        "server_error",
    ]

    /// `notifyChannels`: the configured channel names, reported as 0 before their first delivery;
    /// `ruleNames` and `actionStates` likewise for `incidents_open` and `actions` (given by the
    /// collector, so metrics sit below the rules and actions that record into them).
    public init(notifyChannels: [String] = [], ruleNames: [String] = [], actionStates: [String] = []) {
        incidentRules = LockedValue(Set(ruleNames))
        self.actionStates = actionStates
        let registry = PrometheusCollectorRegistry()
        let factory = CollectorMetricsFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        ingestRequests = Dictionary(
            uniqueKeysWithValues: Self.ingestOutcomes.map {
                ($0, Metrics.Counter(label: MetricName.ingestRequests, dimensions: [("outcome", $0)], factory: factory))
            })
        ingestRejections = Dictionary(
            uniqueKeysWithValues: RejectionReason.allCases.map {
                ($0, Metrics.Counter(label: MetricName.ingestRejected, dimensions: [("reason", $0.rawValue)], factory: factory))
            })
        ingestDuration = Metrics.Timer(label: MetricName.ingestDuration, factory: factory)
        observationsStored = Metrics.Counter(label: MetricName.observationsStored, factory: factory)
        duplicates = Metrics.Counter(label: MetricName.duplicates, factory: factory)
        refusedActionResults = Metrics.Counter(label: MetricName.observationsRefused, dimensions: [("reason", "action_result")], factory: factory)
        refused = Dictionary(
            uniqueKeysWithValues: ObservationKind.allCases.map {
                ($0, Metrics.Counter(label: MetricName.refused, dimensions: [("kind", $0.rawValue)], factory: factory))
            })
        ingestLag = Metrics.Timer(label: MetricName.ingestLag, factory: factory)
        evaluationDuration = Metrics.Timer(label: MetricName.evaluationDuration, factory: factory)
        checksEvaluated = Metrics.Counter(label: MetricName.checksEvaluated, factory: factory)
        databaseSize = Metrics.Gauge(label: MetricName.databaseSize, factory: factory)
        walSize = Metrics.Gauge(label: MetricName.walSize, factory: factory)
        for channel in notifyChannels {
            for outcome in DeliveryAttemptOutcome.allCases { _ = deliveryCounter(channel: channel, outcome: outcome) }
            _ = failureCounter(channel: channel)
        }
    }

    // MARK: - Recording

    /// The outcome label of a `POST /v1/reports` answer.
    static func ingestOutcome(status: Int) -> String {
        switch status {
        case 200..<300: "ok"
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 413: "too_large"
        case 415: "unsupported_media_type"
        case 503: "unavailable"
        case 400..<500: "client_error"
        default: "server_error"
        }
    }

    /// A `POST /v1/reports` was answered with `status`; `began` is `WallClock.monotonicNanos()`
    /// when it reached the router. Only 200s are timed: they are the ones that committed.
    func ingestAnswered(status: Int, began: UInt64) {
        let outcome = Self.ingestOutcome(status: status)
        ingestRequests[outcome]?.increment()
        if outcome == "ok" { ingestDuration.recordNanoseconds(Self.nanos(since: began)) }
    }

    /// A report was refused with 401 or 403.
    func ingestRejected(reason: RejectionReason) {
        ingestRejections[reason]?.increment()
    }

    /// A report's transaction committed: `stored` new observations, `duplicates`, `refusedResults`
    /// refused action results, and the lag of each stored observation.
    func ingestCommitted(stored: Int, duplicates: Int, refusedResults: Int, storedLagsMs: [Int64]) {
        if stored > 0 { observationsStored.increment(by: stored) }
        if duplicates > 0 { self.duplicates.increment(by: duplicates) }
        if refusedResults > 0 { refusedActionResults.increment(by: refusedResults) }
        for lagMs in storedLagsMs { ingestLag.recordNanoseconds(min(max(0, lagMs), Int64.max / 1_000_000) * 1_000_000) }
    }

    /// The observations of `report` that were refused one by one, counted by kind.
    func refused(_ refusals: [RefusedObservation], of report: Report) {
        guard !refusals.isEmpty else { return }
        let kinds = Dictionary(report.observations.map { ($0.seq, $0.body.kind) }) { first, _ in first }
        for refusal in refusals { kinds[refusal.seq].map { refused[$0]?.increment() } }
    }

    /// One evaluation pass finished.
    func evaluationPass(evaluated: Int, began: UInt64) {
        evaluationDuration.recordNanoseconds(Self.nanos(since: began))
        if evaluated > 0 { checksEvaluated.increment(by: evaluated) }
    }

    /// One delivery attempt of a notification to `channel`.
    func notificationAttempt(channel: String, delivered: Bool) {
        deliveryCounter(channel: channel, outcome: delivered ? .sent : .failed).increment()
    }

    /// A notification was given up on `channel`.
    func notificationGaveUp(channel: String) {
        failureCounter(channel: channel).increment()
    }

    /// The `outcome` label of one delivery attempt: a retryable failure counts as `failed` too.
    enum DeliveryAttemptOutcome: String, CaseIterable {
        case sent, failed
    }

    private func deliveryCounter(channel: String, outcome: DeliveryAttemptOutcome) -> Metrics.Counter {
        // The registry returns the existing series for a known label set.
        Metrics.Counter(
            label: MetricName.notificationDeliveries, dimensions: [("channel", channel), ("outcome", outcome.rawValue)], factory: factory)
    }

    private func failureCounter(channel: String) -> Metrics.Counter {
        Metrics.Counter(label: MetricName.notificationFailures, dimensions: [("channel", channel)], factory: factory)
    }

    private static func nanos(since began: UInt64) -> Int64 {
        let now = WallClock.monotonicNanos()
        return now > began ? Int64(clamping: now - began) : 0
    }

    // MARK: - Scraping

    /// Updates the scrape-time gauges from `database` and returns the exposition text.
    func scrape(database: AppDatabase) async throws -> [UInt8] {
        let (openByRule, actionsByState) = try await database.read { tx in
            let open = try tx.incidentReads.openCountByRule()
            let actions = try tx.actions.countByState()
            return (open, actions)
        }
        let rules = incidentRules.withLock { rules in
            rules.formUnion(openByRule.keys)
            return rules
        }
        for rule in rules {
            Metrics.Gauge(label: MetricName.incidentsOpen, dimensions: [("rule", rule)], factory: factory).record(openByRule[rule] ?? 0)
        }
        for state in Set(actionStates).union(actionsByState.keys) {
            Metrics.Gauge(label: MetricName.actions, dimensions: [("state", state)], factory: factory).record(actionsByState[state] ?? 0)
        }
        databaseSize.record(Self.fileSize(database.path))
        walSize.record(Self.fileSize(database.path + "-wal"))
        return registry.emitToBuffer()
    }

    /// Bytes of the file at `path`; 0 when it does not exist.
    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }
}

/// A value behind a lock.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
