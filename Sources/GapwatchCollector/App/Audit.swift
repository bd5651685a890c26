import GapwatchProtocol
import GapwatchRules
import Logging

/// The job audit, the lock list and the weekly report: what `GET /v1/audit/jobs`,
/// `GET /v1/locks` and the scheduled audit report show.
extension CollectorRuntime {
    /// Every job Gapwatch has seen (missing ones too), with flags; `service` keeps the jobs whose
    /// target or health URL belongs to it (see `jobMatches`).
    public func auditJobs(service: String? = nil, now: Millis) throws -> [JobAudit] {
        let targets = config.remediation.schedulerTargets
        let failures = targets?.rule.failuresToOpen ?? TargetHealthRule.defaultFailures
        let noSuccessMs = Millis(targets?.noSuccessDays ?? 7) * 86_400_000
        let rows = try database.schedulerJobs()
        return rows.filter { job in service.map { jobMatches(job, service: $0) } ?? true }.map { job in
            let health =
                job.lastProbeAt == nil ? "unknown" : job.probeFailures >= failures ? "failing" : job.probeFailures > 0 ? "degraded" : "healthy"
            var flags: [String] = []
            if health == "failing" { flags.append("target_failing") }
            // Only for jobs whose scheduler reports runs: a static list says nothing about them.
            if job.enabled, job.lastAttemptAt != nil, now - (job.lastSuccessAt ?? job.firstSeenAt) > noSuccessMs { flags.append("no_recent_success") }
            if job.disabledByGapwatch { flags.append("disabled_by_gapwatch") }
            if !job.present { flags.append("missing_from_inventory") }
            return JobAudit(
                name: job.name, agentID: job.agentID, scheduler: job.scheduler, schedule: job.schedule, timeZone: job.timeZone,
                target: job.target, healthURL: job.healthURL, service: (job.target ?? job.healthURL).flatMap(serviceOf(url:)) ?? job.service,
                enabled: job.enabled, present: job.present, targetHealth: health, probeFailures: job.probeFailures, lastProbeAt: job.lastProbeAt,
                lastProbeDetail: job.lastProbeDetail, lastAttemptAt: job.lastAttemptAt, lastResult: job.lastResult, lastSuccessAt: job.lastSuccessAt,
                disabledByGapwatch: job.disabledByGapwatch, firstSeenAt: job.firstSeenAt, flags: flags)
        }
    }

    /// Every lock seen, with its age and whether a stuck_locks rule judges it stuck.
    public func locks(now: Millis) throws -> [LockInfo] {
        let rows = try database.lockSightings()
        return rows.map { row in
            let lock = row.lock
            let reason = config.remediation.stuckLocks.lazy.filter { globMatch($0.pattern, lock.name) }
                .compactMap { $0.rule.stuckReason(lock, now: now) }.first
            return LockInfo(
                name: lock.name, agentID: row.agentID, holder: lock.holder, acquiredAt: lock.acquiredAt, expiresAt: lock.expiresAt,
                seenAt: row.seenAt, ageMs: lock.holder == nil ? nil : lock.acquiredAt.map { max(0, now - $0) },
                state: lock.holder == nil ? "free" : reason == nil ? "held" : "stuck", reason: reason)
        }
    }

    /// The weekly audit, as text for people: every job grouped by service, flagged ones first.
    public func auditReport(now: Millis) throws -> String {
        let jobs = try auditJobs(now: now)
        let flagged = jobs.filter { !$0.flags.isEmpty }
        var lines = [
            "Gapwatch scheduler audit, \(TimeParsing.format(now))",
            "\(jobs.count) job(s) on \(Set(jobs.map { $0.service ?? "-" }).count) service(s); \(flagged.count) flagged, "
                + "\(jobs.filter(\.disabledByGapwatch).count) disabled by Gapwatch, \(jobs.filter { !$0.enabled }.count) disabled in all.",
        ]
        if jobs.isEmpty { lines.append("No scheduler inventory has been reported (agents: scheduler: in their config).") }
        let groups = Dictionary(grouping: jobs) { $0.service ?? "(no target)" }
        for service in groups.keys.sorted(by: { a, b in
            let fa = groups[a]!.contains { !$0.flags.isEmpty }
            let fb = groups[b]!.contains { !$0.flags.isEmpty }
            return fa != fb ? fa : a < b
        }) {
            lines.append("")
            lines.append(service)
            for job in groups[service]! {
                let success = job.lastSuccessAt.map { "last success \(TimeParsing.format($0))" } ?? "no success reported"
                lines.append(
                    "  \(job.name): \(job.enabled ? "enabled" : "DISABLED"), target \(job.targetHealth), \(success)"
                        + (job.flags.isEmpty ? "" : " [\(job.flags.joined(separator: ", "))]"))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Whether `job` points at `service`: a URL matches jobs on the same service
/// (`scheme://host[:port]`); anything else matches a target or health URL containing it
/// (case-insensitive), e.g. a Cloud Run service name.
func jobMatches(_ job: JobRow, service query: String) -> Bool {
    let urls = [job.target, job.healthURL, job.probeTarget].compactMap { $0 }
    if let wanted = serviceOf(url: query) { return urls.contains { serviceOf(url: $0) == wanted } }
    let needle = query.lowercased()
    return urls.contains { $0.lowercased().contains(needle) }
}

extension CollectorRuntime {
    /// Sends the audit report to every notification channel, as a notification whose `event` is
    /// `report`, `rule` `scheduler_audit` and `reason` the report text. Returns each channel's
    /// outcome; a failed channel is logged, not retried (next week's report follows).
    public func sendAuditReport(now: Millis) async throws -> [String: DeliveryOutcome] {
        let text = try auditReport(now: now)
        let message = NotificationMessage(
            eventID: now, incidentID: 0, rule: "scheduler_audit", subject: "audit:jobs", event: "report", reason: text, at: now, openedAt: now,
            collector: HostName.current())
        var outcomes: [String: DeliveryOutcome] = [:]
        for channel in config.detection.notify.channels {
            outcomes[channel.name] = await ChannelSender().send(message, via: channel)
        }
        return outcomes
    }
}
