import CoreMetrics
import Prometheus

/// The collector's metrics: name, help text and (for histograms) buckets, in one place.
/// `protocol/README.md#metrics` documents each one; keep the two in step.
enum MetricName {
    static let ingestRequests = "gapwatch_ingest_requests_total"
    static let ingestDuration = "gapwatch_ingest_duration_seconds"
    static let ingestRejected = "gapwatch_ingest_rejected_total"
    static let observationsStored = "gapwatch_ingest_observations_stored_total"
    static let duplicates = "gapwatch_ingest_duplicates_total"
    static let observationsRefused = "gapwatch_ingest_observations_refused_total"
    static let refused = "gapwatch_ingest_refused_total"
    static let ingestLag = "gapwatch_ingest_lag_seconds"
    static let evaluationDuration = "gapwatch_rule_evaluation_duration_seconds"
    static let checksEvaluated = "gapwatch_checks_evaluated_total"
    static let incidentsOpen = "gapwatch_incidents_open"
    static let actions = "gapwatch_actions"
    static let notificationDeliveries = "gapwatch_notification_deliveries_total"
    static let notificationFailures = "gapwatch_notification_failures_total"
    static let databaseSize = "gapwatch_database_size_bytes"
    static let walSize = "gapwatch_database_wal_size_bytes"

    static let help: [String: String] = [
        ingestRequests: "POST /v1/reports answers, by outcome (from the HTTP status)",
        ingestRejected:
            "POST /v1/reports refused with 401, 403 or 429 (a new agent id over fleet.new_agents_per_hour), by reason (gapwatch agents lists who)",
        ingestDuration: "Time from a report request reaching the router to its transaction's commit (200 answers)",
        observationsStored: "Observations stored (new agent, spool and seq)",
        duplicates: "Observations received again and dropped as duplicates",
        observationsRefused: "Observations stored but not applied, by reason (action_result: its command was not handed to that agent and stream)",
        refused: "Observations refused one by one (acknowledged, not stored), by kind; facts another agent owns: gapwatch owners lists who",
        ingestLag: "received_at minus observed_at of each stored observation (late data, e.g. a drained spool)",
        evaluationDuration: "Duration of one rule evaluation pass over the due checks",
        checksEvaluated: "Checks evaluated by the rule evaluation passes",
        incidentsOpen: "Open incidents by rule, read from the database at scrape time",
        actions: "Healing actions in the database by state, read at scrape time",
        notificationDeliveries: "Notification delivery attempts by channel and outcome",
        notificationFailures: "Notifications given up on a channel (non-retryable failure or attempts spent)",
        databaseSize: "Size of the SQLite database file",
        walSize: "Size of the SQLite write-ahead log file (0 when absent)",
    ]

    /// Request and pass durations: 1 ms to 10 s.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    /// Arrival lag: on time (a second) to a week-old spool.
    static let lagBuckets: [Duration] = [
        .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(6 * 3600),
        .seconds(24 * 3600), .seconds(7 * 24 * 3600),
    ]
    static let buckets: [String: [Duration]] = [ingestDuration: durationBuckets, evaluationDuration: durationBuckets, ingestLag: lagBuckets]
}

/// A swift-metrics factory over one collector's own Prometheus registry. Unlike
/// `PrometheusMetricsFactory` it gives every metric its HELP text (linters such as
/// `promtool check metrics` require one) and its histogram buckets from `MetricName`.
/// Each `CollectorRuntime` has its own, so collectors in one process never share counts; nothing
/// here uses the process-global `MetricsSystem`.
struct CollectorMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricName.help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        let buckets = (MetricName.buckets[label] ?? MetricName.durationBuckets).map {
            Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
        }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label), labels: dimensions, buckets: MetricName.buckets[label] ?? MetricName.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
