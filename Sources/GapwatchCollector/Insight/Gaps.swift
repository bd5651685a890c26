import GRDB
import GapwatchProtocol
import GapwatchRules

/// Per date, for each completeness rule: source and derived counts, the gap, the ratio and what is
/// being done about it. The post-mortem's first query, as `GET /v1/gaps` and `gapwatch gaps`.
public struct GapReport: Codable, Sendable, Equatable {
    public struct Day: Codable, Sendable, Equatable {
        /// The partition: a date (`YYYY-MM-DD`), or an hour (`YYYY-MM-DDTHH`) for hourly rules.
        public var date: String
        public var sourceCount: Int64?
        public var derivedCount: Int64?
        /// Source minus derived rows, at least 0.
        public var gap: Int64
        public var ratio: Double?
        /// ok (complete); gap (below min_ratio, derived missing, or an expected partition without
        /// source rows); healing (an action over it is in flight); escalated (its action gave up; a
        /// person must look); not_due (its period has not ended, plus due_after: never judged);
        /// settling (due, but the source changed less than `settle` ago); no_rows (neither dataset
        /// has rows and none were expected).
        public var state: String
        /// The action healing (or that gave up on) this partition.
        public var actionID: String?
        /// When the partition is (or was) due.
        public var dueAt: Millis

        enum CodingKeys: String, CodingKey {
            case date, gap, ratio, state
            case sourceCount = "source_count"
            case derivedCount = "derived_count"
            case actionID = "action_id"
            case dueAt = "due_at"
        }
    }

    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var source: String
        public var derived: String
        public var minRatio: Double
        /// day or hour.
        public var partition: String
        /// Oldest first.
        public var days: [Day]

        enum CodingKeys: String, CodingKey {
            case name, source, derived, days, partition
            case minRatio = "min_ratio"
        }
    }

    public var checks: [Check]
}

extension CollectorRuntime {
    /// The partitions of the last `days` days (the current one in each rule's time zone included;
    /// 24 partitions a day for hourly rules) of every completeness rule, or of the one named
    /// `check`. nil: no such rule.
    public func gaps(days: Int, check name: String? = nil, now: Millis) throws -> GapReport? {
        let rules = config.remediation.completeness.filter { name == nil || $0.name == name }
        if name != nil && rules.isEmpty { return nil }
        return try database.pool.read { db in
            GapReport(
                checks: try rules.map { check in
                    var window = check.rule
                    window.lookback = days * (window.granularity == .day ? 1 : 24)
                    let verdicts = try detector.judge(db, check, partitions: window.partitions(at: now), now: now)
                    let actions = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT a.id, a.state, json_extract(a.parameters, '$.start') AS start, json_extract(a.parameters, '$.end') AS end
                            FROM actions a LEFT JOIN incidents i ON i.id = a.incident_id
                            WHERE a.name IN (?, ?) AND json_extract(a.parameters, '$.end') >= ? AND json_extract(a.parameters, '$.start') <= ?
                              AND (\(ActionState.inFlightCondition(column: "a.state")) OR (a.state = '\(ActionState.escalated.rawValue)' AND i.state = 'open'))
                            ORDER BY a.created_at DESC
                            """,
                        arguments: [check.backfill ?? "", check.scrape ?? "", verdicts.first?.partition ?? "", verdicts.last?.partition ?? ""])
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
                            let covering = actions.first { ($0["start"] as String? ?? "") <= p && p <= ($0["end"] as String? ?? "") }
                            if short, let covering { state = (covering["state"] as String) == ActionState.escalated.rawValue ? "escalated" : "healing" }
                            let s = verdict.sourceCount, d = verdict.derivedCount
                            return GapReport.Day(
                                date: p, sourceCount: s, derivedCount: d, gap: max(0, (s ?? 0) &- (d ?? 0)), ratio: verdict.ratio, state: state,
                                actionID: short ? covering?["id"] : nil, dueAt: verdict.dueAt)
                        })
                })
        }
    }
}
