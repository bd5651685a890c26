import GapwatchProtocol
import GapwatchRules

/// The collector's use cases, one method each: what the HTTP API, the dashboard and in-process
/// commands all call. Callers authorize first (the API checks the bearer token, the dashboard its
/// session) and pass the acting token's id where it is recorded (`requestedBy`). Refusals are
/// `UseCaseError`s, which each surface shows in its own way.
struct CollectorApp: Sendable {
    let runtime: CollectorRuntime

    // MARK: - Reads

    func overview(now: Millis) throws -> SystemOverview { try runtime.overview(now: now) }

    func story(subject: String, from: Millis, to: Millis, limit: Int, kinds: Set<ObservationKind>? = nil) throws -> SubjectStory {
        try runtime.story(subject: subject, from: from, to: to, limit: limit, kinds: kinds)
    }

    /// The gap report of every completeness rule, or of the one named `check`.
    func gaps(days: Int, check: String? = nil, now: Millis) throws -> GapReport {
        guard let report = try runtime.gaps(days: days, check: check, now: now) else {
            let names = runtime.config.remediation.completeness.map(\.name)
            throw UseCaseError(
                .notFound, "no completeness rule named '\(check ?? "")'; configured: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        return report
    }

    func staleItems(days: Int, now: Millis) throws -> [StaleItemInfo] { try runtime.staleItems(days: days, now: now) }

    func auditJobs(service: String? = nil, now: Millis) throws -> [JobAudit] { try runtime.auditJobs(service: service, now: now) }

    func auditReport(now: Millis) throws -> String { try runtime.auditReport(now: now) }

    func locks(now: Millis) throws -> [LockInfo] { try runtime.locks(now: now) }

    func checks(now: Millis) throws -> [CheckInfo] { try runtime.detector.checks(now: now) }

    /// Per run expectation and hour since `since`: expected runs against observed decisions.
    func workflowGaps(since: Millis, now: Millis) throws -> WorkflowGapsReport { try runtime.detector.workflowGaps(since: since, now: now) }

    /// The newest workflow decisions since `since`, newest first, at most `limit`.
    func latestWorkflowDecisions(since: Millis, limit: Int) throws -> [WorkflowDecisionLine] {
        try runtime.database.latestWorkflowDecisions(since: since, limit: limit)
    }

    /// The counts one dataset (`dataset:NAME`) reported for one partition, newest first.
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [DatasetCountSighting] {
        try runtime.database.partitionCounts(subject: subject, partition: partition, limit: limit)
    }

    func incidents(_ filter: IncidentFilter) throws -> [IncidentInfo] { try runtime.database.incidents(filter) }

    /// One incident with its events and their deliveries.
    func incident(id: Int64) throws -> IncidentInfo? { try runtime.database.incident(id: id) }

    /// How many incidents there are (in `state` when given).
    func incidentCount(state: String?) throws -> Int { try runtime.database.incidentCount(state: state) }

    func actions(_ filter: ActionFilter) throws -> [ActionInfo] { try runtime.database.actions(filter) }

    /// How many actions are in each state.
    func actionCountsByState() throws -> [String: Int] { try runtime.database.actionCountsByState() }

    /// The lock releases in flight, by lock name (at most one per lock: the actions_in_flight index).
    func releasesInFlight() throws -> [String: KeyedAction] {
        let prefix = Detector.releaseKey("")
        var releases: [String: KeyedAction] = [:]
        for action in try runtime.database.actions(keyPrefix: prefix, in: ActionState.inFlight) {
            releases[String(action.key.dropFirst(prefix.count))] = action
        }
        return releases
    }

    /// Callers whose reports were refused (401/403), most recently seen first.
    func rejectedAgents() throws -> [RejectedAgentInfo] { try runtime.rejections.list() }

    /// What retention kept of the pruned days of `subject`.
    func rollups(subject: String, fromDay: String, toDay: String) throws -> [DailyRollup] {
        try runtime.database.rollups(subject: subject, fromDay: fromDay, toDay: toDay)
    }

    /// The identity behind a token, if it is live.
    func authenticate(_ token: String, now: Millis) throws -> TokenIdentity? { try runtime.tokens.authenticate(token, now: now) }

    var config: CollectorConfig { runtime.config }

    // MARK: - Changes

    /// A person force-releases a lock through the release action of the stuck_locks rule that
    /// covers it. Recorded on the timeline with the token that asked.
    func releaseLock(name: String, requestedBy tokenID: String, now: Millis) async throws -> ActionInfo {
        guard let lock = try locks(now: now).first(where: { $0.name == name }) else {
            throw UseCaseError(.notFound, "no lock '\(name)' has been seen (GET /v1/locks lists them)")
        }
        guard let holder = lock.holder else { throw UseCaseError(.conflict, "lock \(name) is free: nothing to release") }
        let remediation = runtime.config.remediation
        guard let check = remediation.stuckLocks.first(where: { $0.release != nil && globMatch($0.pattern, name) }),
            let action = check.release.flatMap({ remediation.actions[$0] })
        else {
            throw UseCaseError(
                .conflict, "no stuck_locks rule with a release: action covers lock \(name); add one to the collector config to release it from here")
        }
        let state = LockState(name: name, holder: holder, acquiredAt: lock.acquiredAt, expiresAt: lock.expiresAt)
        return try await enqueue(
            action, key: Detector.releaseKey(name), heals: ActionHeals(.stuckLocks, name), parameters: runtime.detector.releaseParameters(state),
            now: now, requestedBy: tokenID)
    }

    /// A person asks for a range to be rebuilt. Validated fully before anything is queued.
    func backfill(_ ask: BackfillRequest, requestedBy tokenID: String, now: Millis) async throws -> ActionInfo {
        let actions = runtime.config.remediation.actions
        guard let action = actions[ask.action] else {
            throw UseCaseError(
                .invalid(field: "action"), "action: no action named '\(ask.action)'; configured: \(actions.keys.sorted().joined(separator: ", "))")
        }
        let check = runtime.config.remediation.completeness.first { $0.backfill == action.name || $0.scrape == action.name }
        let granularity = check?.rule.granularity ?? .day
        let format = granularity == .day ? "a date (YYYY-MM-DD)" : "an hour (YYYY-MM-DDTHH) of rule '\(check?.name ?? "")'"
        for (field, value) in [("start", ask.start), ("end", ask.end)] where PartitionKey.period(of: value, granularity) == nil {
            throw UseCaseError(.invalid(field: field), "\(field): '\(excerpt(value))' is not \(format)")
        }
        guard ask.start <= ask.end else {
            throw UseCaseError(.invalid(field: "start"), "the range is reversed: start \(ask.start) is after end \(ask.end)")
        }
        let maxPartitions = action.maxRangeDays * (granularity == .day ? 1 : 24)
        let partitions = PartitionKey.keys(from: ask.start, through: ask.end, granularity, limit: maxPartitions + 1)
        guard partitions.count <= maxPartitions else {
            throw UseCaseError(
                .invalid(field: "end"),
                "the range is larger than action '\(action.name)' allows: more than \(action.maxRangeDays) days (max_range_days)")
        }
        // A period still filling can be neither healed nor verified: its rows are still arriving.
        if let rule = check?.rule, let last = partitions.last, let due = rule.dueAt(last), now < due {
            throw UseCaseError(
                .invalid(field: "end"),
                "end: \(last) is not due until \(TimeParsing.format(due)) (its period ends, plus due_after \(Units.formatDuration(rule.dueAfterMs)), in \(rule.timeZone)); "
                    + "a backfill of a period still receiving rows could not be verified")
        }
        let key = "manual:\(action.name):\(ask.start)..\(ask.end)"
        let dataset = check.map { $0.backfill == action.name ? $0.rule.derived : $0.rule.source } ?? ""
        return try await enqueue(
            action, key: key, heals: nil,
            parameters: [
                "start": ask.start, "end": ask.end, "partition": ask.start, "dataset": dataset,
                "bypass_checks": (ask.bypassChecks ?? false) ? "true" : "false",
            ], now: now, requestedBy: tokenID)
    }

    /// Re-evaluates every completeness and stale-item rule over its whole lookback now; returns how
    /// many checks were marked due.
    func catchUp(now: Millis) async throws -> Int { try await runtime.detector.scheduleCatchUp(now: now) }

    /// An admin approves an action held for approval.
    func approveAction(id: String, approvedBy tokenID: String, now: Millis) throws -> ActionInfo {
        guard let action = try runtime.database.action(id: id) else { throw UseCaseError(.notFound, "no action '\(id)'") }
        guard try runtime.database.approveAction(id: id, by: tokenID, now: now), let approved = try runtime.database.action(id: id) else {
            throw UseCaseError(.conflict, "action \(id) is \(action.state), not awaiting approval")
        }
        return approved
    }

    /// Pauses (or resumes) a check by name; answers the check as it now is.
    func setCheckPaused(name: String, paused: Bool, now: Millis) throws -> CheckInfo {
        let detector = runtime.detector
        switch paused ? try detector.pause(name: name, now: now) : try detector.resume(name: name, now: now) {
        case .notFound: throw UseCaseError(.notFound, "no check named '\(name)'; GET /v1/checks lists them")
        case .unchanged: throw UseCaseError(.conflict, "check '\(name)' is \(paused ? "already paused" : "not paused")")
        case .changed:
            guard let info = try checks(now: now).first(where: { $0.name == name }) else { throw UseCaseError(.notFound, "no check named '\(name)'") }
            return info
        }
    }

    /// Queues a manual action asked for by `tokenID`: the action it created, or the queue's reason
    /// for not creating one as a conflict.
    private func enqueue(
        _ action: ActionConfig, key: String, heals: ActionHeals?, parameters: [String: String], now: Millis, requestedBy tokenID: String
    ) async throws -> ActionInfo {
        let queued = try await runtime.database.write { tx in
            try ActionQueue(tx: tx).enqueue(
                action, key: key, heals: heals, incidentID: nil, origin: "manual", parameters: parameters, now: now, requestedBy: tokenID)
        }
        guard let id = queued.id, let info = try runtime.database.action(id: id) else { throw UseCaseError(.conflict, queued.reason) }
        return info
    }
}
