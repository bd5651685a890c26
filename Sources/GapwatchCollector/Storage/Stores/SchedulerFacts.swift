import GapwatchProtocol

/// What the ingest writer records about scheduler jobs, target probes and locks.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol SchedulerFacts {
    /// An inventory change. A job seen again after being removed is present again. A job whose
    /// target or health URL changed (re-pointed) starts its probe counts afresh: the old target's
    /// failures say nothing about the new one.
    func record(_ job: JobSighting, agentID: String, observedAt: Millis) throws

    /// A probe of a job's target: counts failures and successes in a row. Returns the new counts,
    /// or nil if the job is unknown, the probe is older than the latest one counted, or it hit a
    /// URL the job no longer points at (a probe of the old target, sent before a re-point).
    func record(_ probe: TargetProbe, observedAt: Millis) throws -> (failures: Int, successes: Int)?

    func record(_ lock: LockSighting, agentID: String, observedAt: Millis) throws
}
