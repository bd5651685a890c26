import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess

/// The jobs of the latest inventory read, shared by the inventory and the target prober.
public final class JobCatalog: @unchecked Sendable {
    private let lock = ConditionLock()
    private var jobs: [JobSighting] = []
    private var newTargets: @Sendable () -> Void = {}

    public init() {}

    public var current: [JobSighting] { lock.withLock { jobs } }

    /// Called (outside the lock) when an update brings a probe URL the catalog did not hold.
    public func onNewTargets(_ body: @escaping @Sendable () -> Void) { lock.withLock { newTargets = body } }

    public func update(_ new: [JobSighting]) {
        let notify: (@Sendable () -> Void)? = lock.withLock {
            let known = Set(jobs.compactMap(\.probeURL))
            jobs = new
            return new.contains { $0.probeURL.map { !known.contains($0) } ?? false } ? newTargets : nil
        }
        notify?()
    }
}

/// Probes the target of every job in the inventory (its `health_url`, else its `target`; http(s)
/// only), disabled jobs too, a few at a time, and reports a `probe` observation for each.
///
/// Healthy: exactly `expect_status` when set; otherwise any response but 404 and 5xx (a job's
/// target usually expects a POST, so a 401 or 405 to a GET still proves the service is there). A
/// failed request (refused, DNS, timeout) is unhealthy.
public final class JobTargetProber: Observer, @unchecked Sendable {
    public let name = "scheduler-probes"
    public let intervalMs: Int64
    public let timeoutMs: Int64
    public let expectStatus: Int?
    /// Probes in flight at most.
    public var maxConcurrent = 8
    private let catalog: JobCatalog

    public init(config: AgentConfig.Scheduler, catalog: JobCatalog) {
        intervalMs = config.probeIntervalMs
        timeoutMs = config.probeTimeoutMs
        expectStatus = config.expectStatus
        self.catalog = catalog
    }

    public static func isHealthy(status: Int, expect: Int?) -> Bool {
        if let expect { return status == expect }
        return status != 404 && status < 500
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let targets = catalog.current.compactMap { job in job.probeURL.map { (job: job.name, url: $0) } }
        guard !targets.isEmpty else { return [] }
        let results = Results(count: targets.count)
        let expect = expectStatus
        let timeoutMs = timeoutMs
        let workers = max(1, min(maxConcurrent, targets.count))
        let threads = (0..<workers).map { _ in
            AgentThread(name: "gw-job-probe") {
                let client = HTTPProbeObserver.client(timeoutMs: timeoutMs)
                while !cancel.isStopped, let i = results.claim() {
                    let probe = HTTPProbeObserver.probe(client, url: targets[i].url, job: targets[i].job) {
                        Self.isHealthy(status: $0, expect: expect)
                    }
                    results.set(i, probe)
                }
            }
        }
        // Each worker does at most ceil(n / workers) probes, each bounded by the timeout.
        let rounds = Int64((targets.count + workers - 1) / workers)
        let deadline = WallClock.monotonicMillis() + rounds * (timeoutMs + 1_000) + 2_000
        for thread in threads { thread.join(timeoutMs: max(0, deadline - WallClock.monotonicMillis())) }
        return results.finished.map { .probe($0) }
    }

    /// The probes of one round, filled in by the workers.
    private final class Results: @unchecked Sendable {
        private let lock = ConditionLock()
        private var next = 0
        private var probes: [TargetProbe?]

        init(count: Int) { probes = Array(repeating: nil, count: count) }

        func claim() -> Int? {
            lock.withLock {
                guard next < probes.count else { return nil }
                defer { next += 1 }
                return next
            }
        }

        func set(_ i: Int, _ probe: TargetProbe) { lock.withLock { probes[i] = probe } }

        /// In inventory order; a probe still running past the deadline is left out.
        var finished: [TargetProbe] { lock.withLock { probes.compactMap { $0 } } }
    }
}
