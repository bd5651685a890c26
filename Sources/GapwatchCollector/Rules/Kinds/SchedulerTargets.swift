import GapwatchProtocol
import GapwatchRules

/// The scheduler-targets check (`scheduler_targets:`): scheduler jobs pointing at unhealthy
/// targets (rule target_unhealthy, subject target:SERVICE; the jobs disabled or re-pointed) and
/// jobs that stopped succeeding (rule job_no_success, subject job:JOB). Evaluated when an
/// inventory arrives, when a target's health crosses a threshold, and every `recheck_interval`.
struct SchedulerTargetsKind: ConfiguredRuleKind {
    let checkKind = "job_targets"
    let rules: [IncidentRule] = [.targetUnhealthy, .jobNoSuccess]

    func configs(_ detector: Detector) -> [SchedulerTargetsConfig] { detector.remediation.schedulerTargets.map { [$0] } ?? [] }

    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector) {
        guard let targets = detector.remediation.schedulerTargets, let id = ids[targets.name] else { return }
        routing.route(.jobs, to: id)
        routing.jobFailures = targets.rule.failuresToOpen
        routing.jobReenableAfter = targets.rule.successesToReenable
    }

    func expects(_ t: SchedulerTargetsConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        var text =
            "every scheduler job's target answers its probes (unhealthy after \(t.rule.failuresToOpen) failure\(t.rule.failuresToOpen == 1 ? "" : "s") in a row)"
        if t.noSuccess.periods > 0 {
            text +=
                "; every enabled job succeeds within \(t.noSuccess.periods) scheduled run\(t.noSuccess.periods == 1 ? "" : "s") + \(Units.formatDuration(t.noSuccess.graceMs))"
        }
        return (text, t.noSuccess.graceMs)
    }

    func evaluate(_ tx: StoreTransaction, _ config: SchedulerTargetsConfig, check _: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict
    {
        try detector.evaluateJobTargets(tx, config, now: now)
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.resolveGone(tx, rule: .targetUnhealthy, prefix: "target:", current: [], reason: reason, now: now)
        try detector.resolveGone(tx, rule: .jobNoSuccess, prefix: "job:", current: [], reason: reason, now: now)
    }

    /// Disable and enable actions are healed when the inventory shows the job in the asked state;
    /// a re-point when it shows the job's target at the replacement.
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? {
        if let job = action.parameters["job"], let replacement = action.parameters["replacement"], action.key == Detector.repointKey(job) {
            return try tx.jobs.targetOfPresent(job) == replacement
        }
        if let job = action.parameters["job"], action.key == Detector.disableKey(job) || action.key == Detector.enableKey(job) {
            guard let enabled = try tx.jobs.enabled(job) else { return false }
            return enabled == (action.key == Detector.enableKey(job))
        }
        return nil
    }
}

extension Detector {
    static let targetRule = IncidentRule.targetUnhealthy.rawValue
    static let noSuccessRule = IncidentRule.jobNoSuccess.rawValue

    static func disableKey(_ job: String) -> String { JobActionKey.disable(job) }
    static func enableKey(_ job: String) -> String { JobActionKey.enable(job) }
    static func repointKey(_ job: String) -> String { JobActionKey.repoint(job) }

    /// One incident per dead target: it lists every job on the target, its disables are announced
    /// on it in batches, and it resolves when the target answers again or no job points at it.
    /// A job on a failing target never has an incident of its own (see `evaluateNoSuccess`).
    func evaluateJobTargets(_ tx: StoreTransaction, _ config: SchedulerTargetsConfig, now: Millis) throws -> Verdict {
        let jobs = try tx.jobs.jobs(presentOnly: true)
        for job in jobs where job.enabled && job.disabledByGapwatch {
            // Enabled again, by Gapwatch or a person: no longer Gapwatch's to re-enable.
            try tx.jobs.forgetGapwatchDisable(job.name)
        }
        let verdict = config.rule.evaluate(jobs.map(\.health))
        let byName = Dictionary(uniqueKeysWithValues: jobs.map { ($0.name, $0) })
        let byService = Dictionary(grouping: jobs.filter { $0.service != nil }) { $0.service ?? "" }
        var current: Set<String> = []
        for (service, names) in verdict.failingServices.sorted(by: { $0.key < $1.key }) {
            let subject = "target:\(service)"
            current.insert(subject)
            // Every job on the target known now, failing or not yet: they share the cause.
            let members = (byService[service] ?? []).map(\.name)
            let last = byName[names[0]]?.lastProbeDetail ?? "no answer"
            let listed = members.prefix(100).joined(separator: ", ") + (members.count > 100 ? " and \(members.count - 100) more" : "")
            let reason =
                "\(members.count) job(s) point at \(service), which failed \(config.rule.failuresToOpen)+ probes in a row (last: \(last)): "
                + listed
            let incident = try incidents(tx).open(
                rule: Self.targetRule, subject: subject, reason: reason, labels: ["check": config.name, "service": service], feederAgent: nil,
                at: now)
            for name in members {
                try tx.jobs.markFailingService(name, service: service)
                try foldNoSuccess(tx, job: name, into: incident, service: service, now: now)
            }
            try healJobs(tx, config, names.compactMap { byName[$0] }, service: service, incident: incident, jobs: jobs, now: now)
        }
        try announceDisabledJobs(tx, jobs, now: now)
        try resolveTargets(tx, current: current, jobs: jobs, now: now)
        if let actionName = config.reenable, let action = remediation.actions[actionName] {
            for name in verdict.toReenable {
                guard let job = byName[name] else { continue }
                _ = try ActionQueue(tx: tx).enqueue(
                    action, key: Self.enableKey(name), heals: ActionHeals(.schedulerTargets, name), incidentID: nil, origin: "rule",
                    parameters: ["job": name, "target": job.target ?? job.healthURL ?? "", "scheduler": job.scheduler ?? ""], now: now)
            }
        }
        try evaluateNoSuccess(tx, config, jobs, failingServices: Set(verdict.failingServices.keys), now: now)
        let failing = verdict.failingServices.values.reduce(0) { $0 + $1.count }
        return .judged(
            .remediation(
                failing == 0 ? .up : .down,
                reason: failing == 0 ? "every probed target is healthy" : "\(failing) job(s) on \(verdict.failingServices.count) failing target(s)",
                detail: verdict.failingServices, next: now + remediation.recheckMs))
    }

    /// Each failing job that is enabled, or that Gapwatch disabled, is re-pointed when its target
    /// has a healthy replacement; otherwise an enabled one is disabled.
    private func healJobs(
        _ tx: StoreTransaction, _ config: SchedulerTargetsConfig, _ failing: [JobRow], service: String, incident: Int64, jobs: [JobRow], now: Millis
    ) throws {
        let repoint = config.repoint.flatMap { remediation.actions[$0] }
        let replacement = repoint == nil ? nil : config.replacement(for: service)
        let healthy = try replacement.map { try replacementHealthy(tx, $0, jobs: jobs, maxAgeMs: config.replacementMaxAgeMs, now: now) } ?? false
        let disable = config.disable.flatMap { remediation.actions[$0] }
        for job in failing {
            // A re-point that failed for good falls back to disabling the job.
            let repointGaveUp = try tx.actions.exists(
                key: Self.repointKey(job.name), incidentID: incident, in: [ActionState.escalated, .failed])
            let parameters = ["job": job.name, "target": job.target ?? job.healthURL ?? "", "scheduler": job.scheduler ?? ""]
            if healthy, !repointGaveUp, let repoint, let replacement, job.enabled || job.disabledByGapwatch,
                let url = job.target.flatMap(replacement.rewrite)
            {
                _ = try ActionQueue(tx: tx).enqueue(
                    repoint, key: Self.repointKey(job.name), heals: ActionHeals(.schedulerTargets, job.name), incidentID: incident, origin: "rule",
                    parameters: parameters.merging(["replacement": url]) { $1 }, now: now)
            } else if job.enabled, let disable, try !actionInFlight(tx, key: Self.repointKey(job.name)) {
                _ = try ActionQueue(tx: tx).enqueue(
                    disable, key: Self.disableKey(job.name), heals: ActionHeals(.schedulerTargets, job.name), incidentID: incident, origin: "rule",
                    parameters: parameters, now: now)
            }
        }
    }

    private func actionInFlight(_ tx: StoreTransaction, key: String) throws -> Bool {
        try tx.actions.exists(key: key, in: ActionState.inFlight)
    }

    /// Whether a dead service's replacement is healthy: the latest probe of a URL on it, no older
    /// than `maxAgeMs`, passed. Probes count from the jobs already pointing at it and from agents'
    /// http probes (`probes.http`); with neither, it is not known to be healthy.
    func replacementHealthy(_ tx: StoreTransaction, _ replacement: TargetReplacement, jobs: [JobRow], maxAgeMs: Millis, now: Millis) throws -> Bool {
        guard let service = serviceOf(url: replacement.replacement) else { return false }
        var latest: (at: Millis, healthy: Bool)?
        func consider(_ at: Millis, _ healthy: Bool) {
            if at >= now - maxAgeMs, at > latest?.at ?? .min { latest = (at, healthy) }
        }
        for job in jobs where job.probeTarget.flatMap(serviceOf(url:)) == service {
            if let at = job.lastProbeAt { consider(at, job.probeFailures == 0) }
        }
        // An agent's http probe is filed under `target:URL`; probed URLs are few.
        let observations = tx.observations
        for target in try observations.probedTargets() where serviceOf(url: target.url) == service {
            if let probe = try observations.latestProbe(subjectID: target.subjectID, since: now - maxAgeMs) {
                consider(probe.observedAt, probe.healthy)
            }
        }
        return latest?.healthy ?? false
    }

    /// A job's open no-success incident is folded into its target's incident: resolved, and (if
    /// its opening was never sent) never sent.
    private func foldNoSuccess(_ tx: StoreTransaction, job: String, into incident: Int64, service: String, now: Millis) throws {
        try incidents(tx).resolve(
            rule: Self.noSuccessRule, subject: "job:\(job)", reason: "folded into incident \(incident): its target \(service) is failing", at: now)
    }

    /// Jobs the disable action turned off are marked, and announced on their incident: one event
    /// (one message) per batch, sent once no disable of that incident is still on its way, so
    /// nine jobs disabled together are one update, not nine pages.
    private func announceDisabledJobs(_ tx: StoreTransaction, _ jobs: [JobRow], now: Millis) throws {
        for job in jobs where !job.enabled && !job.disabledByGapwatch {
            guard
                let action = try tx.actions.latest(key: Self.disableKey(job.name), in: [ActionState.running, .verifying, .verified])
            else { continue }
            try tx.jobs.markDisabledByGapwatch(job.name, announceOn: action.incidentID)
        }
        try announcePendingDisables(tx, now: now)
    }

    /// Sends each incident's waiting batch of disables; `force`: these incidents' batches go now,
    /// even with disables still on their way (the incident is about to resolve).
    private func announcePendingDisables(_ tx: StoreTransaction, now: Millis, force: Set<Int64> = []) throws {
        let jobTable = tx.jobs
        let waiting = try jobTable.disablesToAnnounce()
        for (incident, rows) in Dictionary(grouping: waiting, by: \.incident).sorted(by: { $0.key < $1.key }) {
            let unsettled = try jobTable.disablesUnsettled(incident: incident, in: [ActionState.pending, .running, .verifying])
            guard unsettled == 0 || force.contains(incident) else { continue }
            let names = rows.map(\.job)
            let service = try tx.incidentReads.subject(id: incident).map { String($0.dropFirst("target:".count)) }
            let listed = names.prefix(100).joined(separator: ", ") + (names.count > 100 ? " and \(names.count - 100) more" : "")
            try incidents(tx).addEvent(
                incident, event: "job_disabled", old: "open", new: "open",
                reason: "Gapwatch disabled \(names.count) job(s) pointing at \(service ?? "a failing target"): \(listed)", at: now, notifyAt: now,
                notify: nil, detail: nil)
            try jobTable.markAnnounced(incident: incident)
        }
    }

    /// Resolves the target incidents whose service has no failing job any more, saying why: its
    /// jobs' probes pass again, or no job points at it (re-pointed elsewhere or deleted).
    private func resolveTargets(_ tx: StoreTransaction, current: Set<String>, jobs: [JobRow], now: Millis) throws {
        let open = try tx.incidentReads.open(rule: Self.targetRule, subjectPrefix: "target:")
        let byName = Dictionary(uniqueKeysWithValues: jobs.map { ($0.name, $0) })
        for target in open where !current.contains(target.subject) {
            let incident = target.id
            let service = String(target.subject.dropFirst("target:".count))
            try announcePendingDisables(tx, now: now, force: [incident])
            let members = try tx.jobs.failingServiceMembers(service)
            let deleted = members.filter { !$0.present }.count
            let repointed = members.filter { $0.present && byName[$0.job]?.service != service }.count
            let stillPointing = jobs.contains { $0.service == service }
            let reason: String
            if stillPointing || members.isEmpty {
                reason =
                    "the target answers its probes again"
                    + (repointed + deleted > 0 ? " (meanwhile \(repointed) job(s) re-pointed, \(deleted) deleted)" : "")
            } else {
                reason = "no job points at \(service) any more: \(repointed) re-pointed, \(deleted) deleted"
            }
            try incidents(tx).resolve(rule: Self.targetRule, subject: "target:\(service)", reason: reason, at: now)
            try ActionQueue(tx: tx).incidentResolved(incident, reason: reason, now: now)
            try tx.jobs.clearFailingService(service)
        }
    }

    /// Enabled jobs whose scheduler reports their runs, with no success for `no_success_periods`
    /// scheduled runs: one incident per job. A job whose target is failing is part of the target's
    /// incident instead, and judgement waits while its target has failed probes (not yet enough
    /// to open that incident) or, for a probed target, before its first probe: otherwise the job
    /// would page before its target's incident and for the same cause. Runs count only from when
    /// the target last failed a probe or was changed (re-pointed), so a job back on a healthy
    /// target is not paged for runs its dead target failed.
    private func evaluateNoSuccess(
        _ tx: StoreTransaction, _ config: SchedulerTargetsConfig, _ jobs: [JobRow], failingServices: Set<String>, now: Millis
    ) throws {
        var current: Set<String> = []
        for job in jobs where job.enabled && job.lastAttemptAt != nil {
            let subject = "job:\(job.name)"
            if let service = job.service {
                let held =
                    failingServices.contains(service) || job.probeFailures > 0
                    || (job.lastProbeAt == nil && now < job.firstSeenAt + config.noSuccess.graceMs)
                if held {
                    // Keep an incident already open (its target was healthy when it opened).
                    if try tx.incidentReads.isOpen(rule: Self.noSuccessRule, subject: subject) { current.insert(subject) }
                    continue
                }
            }
            guard let text = job.schedule, let schedule = try? CronSchedule(text, timeZone: job.timeZone ?? "UTC") else { continue }
            let reference = max(job.lastSuccessAt ?? job.firstSeenAt, job.lastProbeFailureAt ?? .min, job.targetChangedAt ?? .min)
            guard config.noSuccess.overdueSince(schedule: schedule, reference: reference, now: now) != nil else { continue }
            current.insert(subject)
            let since =
                job.lastSuccessAt.map { "since \(TimeParsing.format($0))" } ?? "since it was first seen \(TimeParsing.format(job.firstSeenAt))"
            let reason =
                "job \(job.name) (\(text) \(job.timeZone ?? "UTC")) has had no successful run \(since)"
                + (job.lastResult.map { "; last attempt: \($0)" } ?? "")
            _ = try incidents(tx).open(
                rule: Self.noSuccessRule, subject: subject, reason: reason, labels: ["check": config.name, "job": job.name], feederAgent: nil,
                at: now)
        }
        try resolveGone(tx, rule: .jobNoSuccess, prefix: "job:", current: current, reason: "the job succeeded again, or is disabled", now: now)
    }
}
