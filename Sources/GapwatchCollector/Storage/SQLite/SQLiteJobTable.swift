import GRDB
import GapwatchProtocol
import GapwatchRules

extension JobRow {
    init(row: Row) {
        name = row["name"]
        agentID = row["agent_id"]
        scheduler = row["scheduler"]
        schedule = row["schedule"]
        timeZone = row["timezone"]
        target = row["target"]
        healthURL = row["health_url"]
        enabled = row["enabled"]
        present = row["present"]
        lastAttemptAt = row["last_attempt_at"]
        lastResult = row["last_result"]
        lastSuccessAt = row["last_success_at"]
        firstSeenAt = row["first_seen_at"]
        probeTarget = row["probe_target"]
        probeFailures = row["probe_failures"]
        probeSuccesses = row["probe_successes"]
        lastProbeAt = row["last_probe_at"]
        lastProbeDetail = row["last_probe_detail"]
        disabledByGapwatch = row["disabled_by_gapwatch"]
        targetChangedAt = row["target_changed_at"]
        lastProbeFailureAt = row["last_probe_failure_at"]
    }

    static func fetchAll(_ db: Database, presentOnly: Bool) throws -> [JobRow] {
        try Row.fetchAll(db, sql: "SELECT * FROM jobs \(presentOnly ? "WHERE present = 1" : "") ORDER BY name").map(JobRow.init(row:))
    }
}

/// Keeps the `jobs` and `locks` tables current from observations, inside the ingest transaction.
struct SQLiteSchedulerFacts: SchedulerFacts {
    let db: Database

    /// An inventory change. A job seen again after being removed is present again. A job whose
    /// target or health URL changed (re-pointed) starts its probe counts afresh: the old target's
    /// failures say nothing about the new one.
    func record(_ job: JobSighting, agentID: String, observedAt: Millis) throws {
        guard job.change != .removed else {
            try db.cachedStatement(sql: "UPDATE jobs SET present = 0, updated_at = ? WHERE name = ? AND updated_at <= ?")
                .execute(arguments: [observedAt, job.name, observedAt])
            return
        }
        // A scheduler that reports only the last attempt and its result: a success is a success.
        let success = job.lastSuccessAt ?? (job.lastResult?.lowercased() == "success" ? job.lastAttemptAt : nil)
        try db.cachedStatement(
            sql: """
                INSERT INTO jobs (name, agent_id, scheduler, schedule, timezone, target, health_url, enabled, present,
                                  last_attempt_at, last_result, last_success_at, first_seen_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12, ?12)
                ON CONFLICT (name) DO UPDATE SET
                    agent_id = ?2, scheduler = ?3, schedule = ?4, timezone = ?5, target = ?6, health_url = ?7, enabled = ?8, present = 1,
                    probe_failures = CASE WHEN \(Self.pointsElsewhere) THEN 0 ELSE probe_failures END,
                    probe_successes = CASE WHEN \(Self.pointsElsewhere) THEN 0 ELSE probe_successes END,
                    probe_target = CASE WHEN \(Self.pointsElsewhere) THEN NULL ELSE probe_target END,
                    target_changed_at = CASE WHEN \(Self.pointsElsewhere) THEN ?12 ELSE target_changed_at END,
                    last_attempt_at = COALESCE(?9, last_attempt_at), last_result = COALESCE(?10, last_result),
                    last_success_at = MAX(COALESCE(?11, 0), COALESCE(last_success_at, 0)), updated_at = ?12
                WHERE excluded.updated_at >= jobs.updated_at
                """
        ).execute(arguments: [
            job.name, agentID, job.scheduler, job.schedule, job.timeZone, job.target, job.healthURL, job.enabled,
            job.lastAttemptAt, job.lastResult, success, observedAt,
        ])
        try db.execute(sql: "UPDATE jobs SET last_success_at = NULL WHERE name = ? AND last_success_at = 0", arguments: [job.name])
    }

    /// The upsert's test for a re-pointed job (in an ON CONFLICT update, bare columns are the old row).
    private static let pointsElsewhere = "(target IS NOT excluded.target OR health_url IS NOT excluded.health_url)"

    /// A probe of a job's target: counts failures and successes in a row. Returns the new counts,
    /// or nil if the job is unknown, the probe is older than the latest one counted, or it hit a
    /// URL the job no longer points at (a probe of the old target, sent before a re-point).
    func record(_ probe: TargetProbe, observedAt: Millis) throws -> (failures: Int, successes: Int)? {
        guard let job = probe.job else { return nil }
        // The agent probes health_url, else target (user info redacted): compare services.
        guard let pointsAt = try Row.fetchOne(db.cachedStatement(sql: "SELECT health_url, target FROM jobs WHERE name = ?"), arguments: [job]),
            let current = ((pointsAt["health_url"] as String?) ?? (pointsAt["target"] as String?)).flatMap(serviceOf(url:)),
            serviceOf(url: probe.target) == current
        else { return nil }
        let detail = probe.httpStatus.map { "HTTP \($0)" } ?? probe.error ?? ""
        return try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE jobs SET
                        probe_failures = CASE WHEN ?1 THEN 0 ELSE probe_failures + 1 END,
                        probe_successes = CASE WHEN ?1 THEN probe_successes + 1 ELSE 0 END,
                        probe_target = ?2, last_probe_at = ?3, last_probe_detail = ?4,
                        last_probe_failure_at = CASE WHEN ?1 THEN last_probe_failure_at ELSE ?3 END
                    WHERE name = ?5 AND COALESCE(last_probe_at, 0) <= ?3 AND COALESCE(target_changed_at, 0) <= ?3
                    RETURNING probe_failures, probe_successes
                    """), arguments: [probe.healthy, probe.target, observedAt, detail, job]
        ).map { ($0[0], $0[1]) }
    }

    func record(_ lock: LockSighting, agentID: String, observedAt: Millis) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO locks (name, agent_id, holder, acquired_at, expires_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT (name) DO UPDATE SET agent_id = ?2, holder = ?3, acquired_at = ?4, expires_at = ?5, seen_at = ?6
                WHERE excluded.seen_at >= locks.seen_at
                """
        ).execute(arguments: [lock.name, agentID, lock.holder, lock.acquiredAt, lock.expiresAt, observedAt])
    }
}

extension LockState {
    init(row: Row) {
        self.init(name: row["name"], holder: row["holder"], acquiredAt: row["acquired_at"], expiresAt: row["expires_at"])
    }
}

/// The `jobs` and `locks` tables outside ingest: what the scheduler_targets and stuck_locks rules,
/// the guardrails and the audit read and mark. Inside the caller's transaction.
struct SQLiteJobTable: JobTable {
    let db: Database

    func jobs(presentOnly: Bool) throws -> [JobRow] { try JobRow.fetchAll(db, presentOnly: presentOnly) }

    /// The target of a present job; nil for an unknown or removed one.
    func targetOfPresent(_ job: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT target FROM jobs WHERE name = ? AND present = 1", arguments: [job])
    }

    /// Whether the scheduler reports the job enabled; nil for an unknown one.
    func enabled(_ job: String) throws -> Bool? {
        try Bool.fetchOne(db, sql: "SELECT enabled FROM jobs WHERE name = ?", arguments: [job])
    }

    /// The agent that reports a job, and its scheduler name.
    func reporter(ofJob job: String) throws -> (agentID: String, scheduler: String?)? {
        try Row.fetchOne(db, sql: "SELECT agent_id, scheduler FROM jobs WHERE name = ?", arguments: [job]).map { ($0["agent_id"], $0["scheduler"]) }
    }

    /// The agent that reports a lock.
    func reporter(ofLock lock: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT agent_id FROM locks WHERE name = ?", arguments: [lock])
    }

    /// How many present jobs agent `agentID` reports under `scheduler`.
    func presentCount(agentID: String, scheduler: String?) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE agent_id = ? AND scheduler IS ? AND present = 1", arguments: [agentID, scheduler])
            ?? 0
    }

    /// The job is enabled again: no longer Gapwatch's to re-enable or announce.
    func forgetGapwatchDisable(_ job: String) throws {
        try db.execute(sql: "UPDATE jobs SET disabled_by_gapwatch = 0, disable_announce_incident = NULL WHERE name = ?", arguments: [job])
    }

    /// Gapwatch disabled the job; its disable waits to be announced on `incident`.
    func markDisabledByGapwatch(_ job: String, announceOn incident: Int64?) throws {
        try db.execute(sql: "UPDATE jobs SET disabled_by_gapwatch = 1, disable_announce_incident = ? WHERE name = ?", arguments: [incident, job])
    }

    /// Disables waiting to be announced, by job name.
    func disablesToAnnounce() throws -> [(incident: Int64, job: String)] {
        try Row.fetchAll(
            db, sql: "SELECT disable_announce_incident AS incident, name FROM jobs WHERE disable_announce_incident IS NOT NULL ORDER BY name"
        )
        .map { ($0["incident"], $0["name"]) }
    }

    func markAnnounced(incident: Int64) throws {
        try db.execute(sql: "UPDATE jobs SET disable_announce_incident = NULL WHERE disable_announce_incident = ?", arguments: [incident])
    }

    /// How many disables of `incident` in `states` are for jobs still enabled and present.
    func disablesUnsettled<S: StateColumnValue>(incident: Int64, in states: [S]) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT COUNT(*) FROM actions a JOIN jobs j ON j.name = json_extract(a.parameters, '$.job')
                WHERE a.incident_id = ? AND a.key >= 'job:disable:' AND a.key < 'job:disable;'
                    AND a.state IN (\(S.sqlList(states))) AND j.enabled = 1 AND j.present = 1
                """, arguments: [incident]) ?? 0
    }

    func markFailingService(_ job: String, service: String) throws {
        try db.execute(sql: "UPDATE jobs SET failing_service = ? WHERE name = ?", arguments: [service, job])
    }

    /// The jobs marked as pointing at failing `service`, and whether each is still present.
    func failingServiceMembers(_ service: String) throws -> [(job: String, present: Bool)] {
        try Row.fetchAll(db, sql: "SELECT name, present FROM jobs WHERE failing_service = ?", arguments: [service]).map {
            ($0["name"], $0["present"])
        }
    }

    func clearFailingService(_ service: String) throws {
        try db.execute(sql: "UPDATE jobs SET failing_service = NULL WHERE failing_service = ?", arguments: [service])
    }

    /// Every lock seen, by name.
    func locks() throws -> [LockRow] {
        try Row.fetchAll(db, sql: "SELECT * FROM locks ORDER BY name").map {
            LockRow(lock: LockState(row: $0), agentID: $0["agent_id"], seenAt: $0["seen_at"])
        }
    }

    func lock(_ name: String) throws -> LockState? {
        try Row.fetchOne(db, sql: "SELECT * FROM locks WHERE name = ?", arguments: [name]).map(LockState.init(row:))
    }
}
