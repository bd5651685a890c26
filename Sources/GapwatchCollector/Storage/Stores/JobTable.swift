import GapwatchProtocol
import GapwatchRules

/// Scheduler jobs and locks as the collector knows them (`scheduler_jobs`, `scheduler_locks`).
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol JobTable {
    func jobs(presentOnly: Bool) throws -> [JobRow]

    /// The target of a present job; nil for an unknown or removed one.
    func targetOfPresent(_ job: String) throws -> String?

    /// Whether the scheduler reports the job enabled; nil for an unknown one.
    func enabled(_ job: String) throws -> Bool?

    /// The agent that reports a job, and its scheduler name.
    func reporter(ofJob job: String) throws -> (agentID: String, scheduler: String?)?

    /// The agent that reports a lock.
    func reporter(ofLock lock: String) throws -> String?

    /// How many present jobs agent `agentID` reports under `scheduler`.
    func presentCount(agentID: String, scheduler: String?) throws -> Int

    /// The job is enabled again: no longer Gapwatch's to re-enable or announce.
    func forgetGapwatchDisable(_ job: String) throws

    /// Gapwatch disabled the job; its disable waits to be announced on `incident`.
    func markDisabledByGapwatch(_ job: String, announceOn incident: Int64?) throws

    /// Disables waiting to be announced, by job name.
    func disablesToAnnounce() throws -> [(incident: Int64, job: String)]

    func markAnnounced(incident: Int64) throws

    /// How many disables of `incident` in `states` are for jobs still enabled and present.
    func disablesUnsettled<S: StateColumnValue>(incident: Int64, in states: [S]) throws -> Int

    func markFailingService(_ job: String, service: String) throws

    /// The jobs marked as pointing at failing `service`, and whether each is still present.
    func failingServiceMembers(_ service: String) throws -> [(job: String, present: Bool)]

    func clearFailingService(_ service: String) throws

    /// Every lock seen, by name.
    func locks() throws -> [LockRow]

    func lock(_ name: String) throws -> LockState?
}

/// One row of the `jobs` table.
struct JobRow {
    var name: String
    var agentID: String
    var scheduler: String?
    var schedule: String?
    var timeZone: String?
    var target: String?
    var healthURL: String?
    var enabled: Bool
    var present: Bool
    var lastAttemptAt: Millis?
    var lastResult: String?
    var lastSuccessAt: Millis?
    var firstSeenAt: Millis
    var probeTarget: String?
    var probeFailures: Int
    var probeSuccesses: Int
    var lastProbeAt: Millis?
    var lastProbeDetail: String?
    var disabledByGapwatch: Bool
    var targetChangedAt: Millis?
    var lastProbeFailureAt: Millis?

    /// The service of the URL the agent probes (health_url, else target).
    var service: String? { (probeTarget ?? healthURL ?? target).flatMap(serviceOf(url:)) }

    var health: JobHealth {
        JobHealth(
            name: name, service: service, enabled: enabled, consecutiveFailures: probeFailures, consecutiveSuccesses: probeSuccesses,
            disabledByGapwatch: disabledByGapwatch)
    }

}

/// A row of the `locks` table as the audit shows it.
struct LockRow {
    var lock: LockState
    var agentID: String
    var seenAt: Millis
}
