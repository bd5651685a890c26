import GapwatchProtocol
import GapwatchRules

extension CollectorRuntime {
    /// The partitions of the last `days` days (the current one in each rule's time zone included;
    /// 24 partitions a day for hourly rules) of every completeness rule, or of the one named
    /// `check`. nil: no such rule.
    public func gaps(days: Int, check name: String? = nil, now: Millis) throws -> GapReport? {
        let rules = config.remediation.completeness.filter { name == nil || $0.name == name }
        if name != nil && rules.isEmpty { return nil }
        return try database.read { tx in
            GapReport(
                checks: try rules.map { check in
                    var window = check.rule
                    window.lookback = days * (window.granularity == .day ? 1 : 24)
                    let verdicts = try detector.judge(tx, check, partitions: window.partitions(at: now), now: now)
                    let actions = try tx.actions.rangesOverlapping(
                        names: [check.backfill ?? "", check.scrape ?? ""], first: verdicts.first?.partition ?? "",
                        last: verdicts.last?.partition ?? "",
                        inFlight: ActionState.inFlight, escalated: ActionState.escalated)
                    return GapReport.Check(
                        name: check.name, source: check.rule.source, derived: check.rule.derived, minRatio: check.rule.minRatio,
                        partition: check.rule.granularity.rawValue,
                        days: verdicts.map { verdict in
                            let p = verdict.partition
                            let short = verdict.gap != nil
                            var state: String
                            switch verdict.state {
                            case .complete: state = "ok"
                            case .notDue, .settling, .noRows: state = verdict.state.rawValue
                            case .derivedMissing, .incomplete, .sourceMissing: state = "gap"
                            }
                            let covering = actions.first { ($0.start ?? "") <= p && p <= ($0.end ?? "") }
                            if short, let covering { state = covering.state == ActionState.escalated.rawValue ? "escalated" : "healing" }
                            let s = verdict.sourceCount
                            let d = verdict.derivedCount
                            return GapReport.Day(
                                date: p, sourceCount: s, derivedCount: d, gap: max(0, (s ?? 0) &- (d ?? 0)), ratio: verdict.ratio, state: state,
                                actionID: short ? covering?.id : nil, dueAt: verdict.dueAt)
                        })
                })
        }
    }
}
