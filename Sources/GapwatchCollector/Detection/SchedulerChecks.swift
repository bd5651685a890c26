import GRDB
import GapwatchProtocol
import GapwatchRules

/// Scheduler jobs pointing at unhealthy targets, jobs that stopped succeeding, and stuck locks:
/// evaluated when an inventory or lock sighting arrives, when a target's health crosses a
/// threshold, and every `recheck_interval`.
extension Detector {
    static let targetRule = "target_unhealthy"
    static let noSuccessRule = "job_no_success"
    static let stuckLockRule = "stuck_lock"

    static func disableKey(_ job: String) -> String { "job:disable:\(job)" }
    static func enableKey(_ job: String) -> String { "job:enable:\(job)" }
    static func releaseKey(_ lock: String) -> String { "lock:release:\(lock)" }

    func evaluateJobTargets(_ db: Database, row: Row, now: Millis) throws {
        let id: Int64 = row["id"]
        guard let config = remediation.schedulerTargets, config.name == row["name"] as String else {
            try db.execute(sql: "UPDATE checks SET next_due = NULL WHERE id = ?", arguments: [id])
            return
        }
        let jobs = try JobRow.fetchAll(db, presentOnly: true)
        try noteDisabledJobs(db, jobs, now: now)
        let verdict = config.rule.evaluate(jobs.map(\.health))
        let byName = Dictionary(uniqueKeysWithValues: jobs.map { ($0.name, $0) })
        var current: Set<String> = []
        for (service, names) in verdict.failingServices.sorted(by: { $0.key < $1.key }) {
            let subject = "target:\(service)"
            current.insert(subject)
            let last = byName[names[0]]?.lastProbeDetail ?? "no answer"
            let reason = "\(names.count) job(s) point at \(service), which failed \(config.rule.failuresToOpen)+ probes in a row (last: \(last)): "
                + names.joined(separator: ", ")
            let incident = try incidents(db).open(
                rule: Self.targetRule, subject: subject, reason: reason, labels: ["check": config.name, "service": service], feederAgent: nil,
                at: now)
            guard let actionName = config.disable, let action = remediation.actions[actionName] else { continue }
            for name in names where verdict.toDisable.contains(name) {
                let job = byName[name]!
                _ = try ActionQueue(db: db).enqueue(
                    action, key: Self.disableKey(name), incidentID: incident, origin: "rule",
                    parameters: ["job": name, "target": job.target ?? job.healthURL ?? "", "scheduler": job.scheduler ?? ""], now: now)
            }
        }
        try resolveGone(db, rule: Self.targetRule, prefix: "target:", current: current, reason: "the target answers its probes again", now: now)
        if let actionName = config.reenable, let action = remediation.actions[actionName] {
            for name in verdict.toReenable {
                let job = byName[name]!
                _ = try ActionQueue(db: db).enqueue(
                    action, key: Self.enableKey(name), incidentID: nil, origin: "rule",
                    parameters: ["job": name, "target": job.target ?? job.healthURL ?? "", "scheduler": job.scheduler ?? ""], now: now)
            }
        }
        try evaluateNoSuccess(db, config, jobs, now: now)
        let failing = verdict.failingServices.values.reduce(0) { $0 + $1.count }
        try setRemediationState(
            db, id: id, state: failing == 0 ? "up" : "down",
            reason: failing == 0 ? "every probed target is healthy" : "\(failing) job(s) on \(verdict.failingServices.count) failing target(s)",
            detail: verdict.failingServices, next: now + remediation.recheckMs, now: now)
    }

    /// Jobs the disable action turned off are marked, and each one is announced on its incident
    /// (a person should know every job Gapwatch disabled). A job enabled again, by Gapwatch or a
    /// person, loses the mark.
    private func noteDisabledJobs(_ db: Database, _ jobs: [JobRow], now: Millis) throws {
        for job in jobs where job.enabled && job.disabledByGapwatch {
            try db.execute(sql: "UPDATE jobs SET disabled_by_gapwatch = 0 WHERE name = ?", arguments: [job.name])
        }
        for job in jobs where !job.enabled && !job.disabledByGapwatch {
            guard
                let action = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id, incident_id FROM actions WHERE key = ? AND state IN ('running', 'verifying', 'verified')
                        ORDER BY created_at DESC LIMIT 1
                        """, arguments: [Self.disableKey(job.name)])
            else { continue }
            try db.execute(sql: "UPDATE jobs SET disabled_by_gapwatch = 1 WHERE name = ?", arguments: [job.name])
            if let incident: Int64 = action["incident_id"] {
                try incidents(db).addEvent(
                    incident, event: "job_disabled", old: "open", new: "open",
                    reason: "Gapwatch disabled job \(job.name) (target \(job.service ?? job.target ?? "?") failing; action \(action["id"] as String))",
                    at: now, notifyAt: now)
            }
        }
    }

    /// Enabled jobs whose scheduler reports their runs, with no success for `no_success_periods`
    /// scheduled runs: one incident per job.
    private func evaluateNoSuccess(_ db: Database, _ config: SchedulerTargetsConfig, _ jobs: [JobRow], now: Millis) throws {
        var current: Set<String> = []
        for job in jobs where job.enabled && job.lastAttemptAt != nil {
            guard let text = job.schedule, let schedule = try? CronSchedule(text, timeZone: job.timeZone ?? "UTC") else { continue }
            let reference = job.lastSuccessAt ?? job.firstSeenAt
            guard config.noSuccess.overdueSince(schedule: schedule, reference: reference, now: now) != nil else { continue }
            let subject = "job:\(job.name)"
            current.insert(subject)
            let since = job.lastSuccessAt.map { "since \(TimeParsing.format($0))" } ?? "since it was first seen \(TimeParsing.format(job.firstSeenAt))"
            let reason = "job \(job.name) (\(text) \(job.timeZone ?? "UTC")) has had no successful run \(since)"
                + (job.lastResult.map { "; last attempt: \($0)" } ?? "")
            _ = try incidents(db).open(
                rule: Self.noSuccessRule, subject: subject, reason: reason, labels: ["check": config.name, "job": job.name], feederAgent: nil,
                at: now)
        }
        try resolveGone(db, rule: Self.noSuccessRule, prefix: "job:", current: current, reason: "the job succeeded again, or is disabled", now: now)
    }

    func evaluateStuckLocks(_ db: Database, row: Row, now: Millis) throws {
        let id: Int64 = row["id"]
        let name: String = row["name"]
        guard let check = remediation.stuckLocks.first(where: { $0.name == name }) else {
            try db.execute(sql: "UPDATE checks SET next_due = NULL WHERE id = ?", arguments: [id])
            return
        }
        let locks = try Row.fetchAll(db, sql: "SELECT * FROM locks ORDER BY name").map(LockState.init(row:))
            .filter { globMatch(check.pattern, $0.name) }
        var current: Set<String> = []
        var next = now + remediation.recheckMs
        for lock in locks {
            guard let why = check.rule.stuckReason(lock, now: now) else {
                if let at = check.rule.stuckAt(lock) { next = min(next, max(at, now + 1)) }
                continue
            }
            let subject = "lock:\(lock.name)"
            current.insert(subject)
            let incident = try incidents(db).open(
                rule: Self.stuckLockRule, subject: subject, reason: "lock \(lock.name) is stuck: \(why)",
                labels: ["check": name, "lock": lock.name], feederAgent: nil, at: now)
            if let actionName = check.release, let action = remediation.actions[actionName] {
                _ = try ActionQueue(db: db).enqueue(
                    action, key: Self.releaseKey(lock.name), incidentID: incident, origin: "rule", parameters: releaseParameters(lock), now: now)
            }
        }
        try resolveGone(
            db, rule: Self.stuckLockRule, prefix: "lock:", current: current, reason: "the lock was released or renewed", now: now, check: name)
        try setRemediationState(
            db, id: id, state: current.isEmpty ? "up" : "down", reason: current.isEmpty ? "no stuck lock" : "\(current.count) stuck",
            detail: current.sorted(), next: next, now: now)
    }

    func releaseParameters(_ lock: LockState) -> [String: String] {
        var p = ["lock": lock.name, "holder": lock.holder ?? ""]
        if let acquired = lock.acquiredAt { p["acquired_at"] = String(acquired) }
        return p
    }

    /// Disable and enable actions are healed when the inventory shows the job in the asked
    /// state; a release when the lock is free, or held by someone else or anew.
    func schedulerActionHealed(_ db: Database, _ action: ActionInfo) throws -> Bool? {
        if let job = action.parameters["job"], action.key == Self.disableKey(job) || action.key == Self.enableKey(job) {
            guard let enabled = try Bool.fetchOne(db, sql: "SELECT enabled FROM jobs WHERE name = ?", arguments: [job]) else { return false }
            return enabled == (action.key == Self.enableKey(job))
        }
        if let name = action.parameters["lock"], action.key == Self.releaseKey(name) {
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM locks WHERE name = ?", arguments: [name]) else { return false }
            let lock = LockState(row: row)
            guard let holder = lock.holder else { return true }
            return holder != action.parameters["holder"] || lock.acquiredAt.map(String.init) != action.parameters["acquired_at"]
        }
        return nil
    }
}
