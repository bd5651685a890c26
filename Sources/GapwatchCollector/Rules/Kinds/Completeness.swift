import GapwatchProtocol
import GapwatchRules

/// A completeness check (`completeness:`): date partitions of a derived dataset judged against
/// its source's counts; each gap range opens an incident (rule completeness, subject
/// completeness:NAME:backfill|scrape) and queues its healing action, verified by the range's
/// partitions. Evaluated when its datasets get counts and every `recheck_interval`.
struct CompletenessKind: ConfiguredRuleKind {
    let checkKind = "completeness"
    let rules: [IncidentRule] = [.completeness]

    func configs(_ detector: Detector) -> [CompletenessConfig] { detector.remediation.completeness }

    func triggers(_ check: CompletenessConfig) -> [CheckRouting.Trigger] {
        ([check.rule.source, check.rule.derived] + (check.expectedFrom.map { [$0] } ?? [])).map { .count(dataset: $0) }
    }

    func expects(_ c: CompletenessConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        let r = c.rule
        let unit = r.granularity.noun
        let current = r.granularity == .day ? "today" : "this hour"
        var text = "derived \(r.derived) ≥ \(Detector.percent(r.minRatio)) of \(r.source) per \(unit) (\(r.timeZone)), "
        text += r.lookback == 1 ? "\(current) only" : "\(current) and \(r.lookback - 1) \(unit)\(r.lookback == 2 ? "" : "s") back"
        text += "; a \(unit) is due \(Units.formatDuration(r.dueAfterMs)) after it ends"
        if let expected = c.expectedFrom { text += "; \(r.source) has rows wherever \(expected) has" }
        text += r.settleMs > 0 ? "; judged once the source count is settled for \(Units.formatDuration(r.settleMs))" : "; judged as counts arrive"
        return (text, r.settleMs)
    }

    func evaluate(_ tx: StoreTransaction, _ check: CompletenessConfig, check _: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        try detector.evaluateCompleteness(tx, check, now: now)
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.resolveGone(tx, rule: .completeness, prefix: "completeness:\(name):", current: [], reason: reason, now: now)
    }

    /// A range action's partitions are all healed.
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? {
        try detector.rangeProgress(tx, action, now: now).map { $0.verified == $0.total }
    }
}

extension Detector {
    func evaluateCompleteness(_ tx: StoreTransaction, _ check: CompletenessConfig, now: Millis) throws -> Verdict {
        let name = check.name
        let rule = check.rule
        let verdicts = try judge(tx, check, partitions: rule.partitions(at: now), now: now)
        let partitions = verdicts.map(\.partition)
        let ranges = CompletenessRule.ranges(of: verdicts, granularity: rule.granularity)
        // One incident per check and heal, whose reason lists the current ranges: a range that
        // changes shape (a new adjacent gap, a partition healed) updates the incident rather than
        // resolving it. Each range gets its own action, verified by its own partitions.
        let prefix = "completeness:\(name):"
        let actionKeys = Set(ranges.map { prefix + "\($0.heal.rawValue):\($0.start)..\($0.end)" })
        try retireReshapedActions(tx, keyPrefix: prefix, current: actionKeys, now: now)
        var current: Set<String> = []
        for heal in [GapRange.Heal.backfill, .scrape] {
            let healRanges = ranges.filter { $0.heal == heal }
            guard !healRanges.isEmpty else { continue }
            let subject = prefix + heal.rawValue
            current.insert(subject)
            let dataset = heal == .backfill ? rule.derived : rule.source
            let described = healRanges.prefix(20).map { range in
                "\(range.start)..\(range.end) ("
                    + range.partitions.map { p in
                        "\(p.partition) \(p.kind.rawValue), source \(p.sourceCount.map(String.init) ?? "none"), derived \(p.derivedCount.map(String.init) ?? "none")"
                    }.joined(separator: "; ") + ")"
            }.joined(separator: ", ")
            let more = healRanges.count > 20 ? " and \(healRanges.count - 20) more range(s)" : ""
            let reason = "\(dataset) needs a \(heal.rawValue) over \(healRanges.count) range(s): \(described)\(more)"
            let incident = try incidents(tx).open(
                rule: IncidentRule.completeness.rawValue, subject: subject, reason: reason,
                labels: ["check": name, "dataset": dataset, "heal": heal.rawValue], feederAgent: nil, at: now)
            let actionName = heal == .backfill ? check.backfill : check.scrape
            guard let actionName, let action = remediation.actions[actionName] else { continue }
            for range in healRanges {
                _ = try ActionQueue(tx: tx).enqueue(
                    action, key: subject + ":\(range.start)..\(range.end)", heals: ActionHeals(.completeness, name), incidentID: incident,
                    origin: "rule",
                    parameters: ["start": range.start, "end": range.end, "dataset": dataset, "partition": range.start], now: now)
            }
        }
        try resolveGone(tx, rule: .completeness, prefix: prefix, current: current, reason: "every partition in range is complete", now: now)
        let state: CheckState = ranges.isEmpty ? .up : .down
        let judged = verdicts.filter { $0.state != .notDue }.map(\.partition)
        let reason =
            !ranges.isEmpty
            ? "\(ranges.count) gap range(s)"
            : judged.isEmpty
                ? "nothing due yet in \(partitions.first ?? "")..\(partitions.last ?? "")"
                : "complete over \(judged.first ?? "")..\(judged.last ?? "")"
        // Re-judge at the next recheck, or as soon as a partition of the window falls due.
        let nextDue = verdicts.map(\.dueAt).filter { $0 > now }.min()
        let next = min(now + remediation.recheckMs, nextDue ?? .max)
        return .judged(.remediation(state, reason: reason, detail: ranges, next: next))
    }

    /// The partitions of a completeness check, judged at `now` from the stored counts.
    func judge(_ tx: StoreTransaction, _ check: CompletenessConfig, partitions: [String], now: Millis) throws -> [PartitionVerdict] {
        var rule = check.rule
        if let first = partitions.first, let last = partitions.last, let a = PartitionKey.period(of: first, rule.granularity),
            let b = PartitionKey.period(of: last, rule.granularity), b >= a
        {
            rule.lookback = Int(clamping: b - a + 1)
        }
        let source = try windowCounts(tx, dataset: rule.source, rule: rule, partitions: partitions)
        let derived = try windowCounts(tx, dataset: rule.derived, rule: rule, partitions: partitions)
        let expected = try check.expectedFrom.map { dataset in
            Set(try windowCounts(tx, dataset: dataset, rule: rule, partitions: partitions).filter { $0.count > 0 }.map(\.partition))
        }
        return rule.judge(source: source, derived: derived, expected: expected, now: now)
    }

    /// The latest counts of `dataset` for a rule's partitions, keyed by the rule's canonical keys.
    /// Daily keys are looked up as they are; hourly keys may be printed several ways
    /// (`2026-01-22T13`, `2026-01-22 13:00:00`), so the keys stored within the window's dates are
    /// listed and read in the rule's form.
    func windowCounts(_ tx: StoreTransaction, dataset: String, rule: CompletenessRule, partitions: [String]) throws -> [PartitionCount] {
        guard rule.granularity == .hour, let first = partitions.first, let last = partitions.last else {
            return try latestCounts(tx, dataset: dataset, partitions: partitions)
        }
        let observations = tx.observations
        guard let subject = try observations.subjectID(named: "dataset:\(dataset)") else { return [] }
        let wanted = Set(partitions)
        var keys: [String] = []
        var cursor = String(first.prefix(10))
        let end = String(last.prefix(10)) + "\u{10FFFF}"
        // The day prefix itself sorts before every hour of that day.
        cursor = String(cursor.dropLast()) + String(UnicodeScalar(UInt8(cursor.utf8.last ?? 0x30) - 1))
        while keys.count < 10 * partitions.count + 100, let key = try observations.nextCountPartition(subjectID: subject, after: cursor, before: end)
        {
            if let canonical = rule.canonical(key), wanted.contains(canonical) { keys.append(key) }
            cursor = key
        }
        var byKey: [String: PartitionCount] = [:]
        for count in try latestCounts(tx, dataset: dataset, partitions: keys) {
            guard let canonical = rule.canonical(count.partition) else { continue }
            // Two spellings of one hour: the one updated last wins.
            if let seen = byKey[canonical], seen.updatedAt >= count.updatedAt { continue }
            byKey[canonical] = PartitionCount(partition: canonical, count: count.count, updatedAt: count.updatedAt)
        }
        return byKey.values.sorted { $0.partition < $1.partition }
    }

    /// The latest count per partition of `dataset`, for the given partitions, with the time it
    /// took that value: probes re-report an unchanged count, and that must not keep a partition
    /// from settling.
    func latestCounts(_ tx: StoreTransaction, dataset: String, partitions: [String]) throws -> [PartitionCount] {
        let observations = tx.observations
        guard let subject = try observations.subjectID(named: "dataset:\(dataset)"), !partitions.isEmpty else { return [] }
        return try Set(partitions).sorted().compactMap { partition in
            guard let newest = try observations.newestCount(subjectID: subject, partition: partition) else { return nil }
            let changedAt = try observations.firstSighting(ofCount: newest.count, subjectID: subject, partition: partition) ?? newest.observedAt
            return PartitionCount(partition: partition, count: newest.count, updatedAt: changedAt)
        }
    }

    /// Rule actions not yet started whose range is no longer a current gap: the gap changed shape
    /// (the current ranges are queued instead) or healed on its own. A pending retry whose range
    /// is now complete counts as verified: an earlier attempt ran.
    private func retireReshapedActions(_ tx: StoreTransaction, keyPrefix: String, current: Set<String>, now: Millis) throws {
        let rows = try tx.actions.ruleActions(keyPrefix: keyPrefix, in: [ActionState.pending, .awaitingApproval])
        for action in rows where !current.contains(action.key) {
            let progress = try rangeProgress(tx, action, now: now)
            if let progress, progress.verified == progress.total {
                try ActionQueue(tx: tx).finish(
                    action.id, as: action.attempts > 0 ? .verified : .cancelled,
                    detail: action.attempts > 0
                        ? "verified: every partition in range is complete" : "no longer needed: every partition in range is complete",
                    now: now)
            } else if action.attempts == 0 {
                try ActionQueue(tx: tx).finish(
                    action.id, as: .cancelled, detail: "no longer needed: the gap changed shape; its current ranges are queued instead", now: now)
            }
        }
    }

    /// How many of a range action's partitions are healed: for backfill and scrape actions of a
    /// completeness check (found by action name and dataset). nil: no rule can judge this action.
    func rangeProgress(_ tx: StoreTransaction, _ action: ActionInfo, now: Millis) throws -> ActionProgress? {
        guard let start = action.parameters["start"], let end = action.parameters["end"] else { return nil }
        let dataset = action.parameters["dataset"]
        let match = remediation.completeness.lazy.compactMap { check -> (CompletenessConfig, GapRange.Heal)? in
            if check.backfill == action.name && (dataset == nil || dataset == "" || dataset == check.rule.derived) { return (check, .backfill) }
            if check.scrape == action.name && (dataset == nil || dataset == "" || dataset == check.rule.source) { return (check, .scrape) }
            return nil
        }.first
        guard let (check, heal) = match else { return nil }
        let partitions = check.rule.partitions(from: start, through: end, limit: 3660)
        guard !partitions.isEmpty else { return nil }
        let source = try windowCounts(tx, dataset: check.rule.source, rule: check.rule, partitions: partitions)
        let derived = heal == .backfill ? try windowCounts(tx, dataset: check.rule.derived, rule: check.rule, partitions: partitions) : []
        let healed = check.rule.healed(partitions, heal: heal, source: source, derived: derived, now: now)
        return ActionProgress(verified: healed.count, total: partitions.count)
    }

    /// Progress of a range action, for `GET /v1/actions/{id}` and `backfill --wait`.
    public func actionProgress(_ action: ActionInfo, now: Millis = WallClock.nowMillis()) throws -> ActionProgress? {
        try database.read { tx in try rangeProgress(tx, action, now: now) }
    }
}
