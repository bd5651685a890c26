import GRDB
import GapwatchProtocol
import GapwatchRules

/// Per date, for each completeness rule: source and derived counts, the gap, the ratio and what is
/// being done about it. The post-mortem's first query, as `GET /v1/gaps` and `gapwatch gaps`.
public struct GapReport: Codable, Sendable, Equatable {
    public struct Day: Codable, Sendable, Equatable {
        public var date: String
        public var sourceCount: Int64?
        public var derivedCount: Int64?
        /// Source minus derived rows, at least 0.
        public var gap: Int64
        public var ratio: Double?
        /// ok; gap (below min_ratio, derived missing, or an expected date without source rows);
        /// healing (an action over this date is in flight); escalated (its action gave up; a person must look).
        public var state: String
        /// The action healing (or that gave up on) this date.
        public var actionID: String?

        enum CodingKeys: String, CodingKey {
            case date, gap, ratio, state
            case sourceCount = "source_count"
            case derivedCount = "derived_count"
            case actionID = "action_id"
        }
    }

    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var source: String
        public var derived: String
        public var minRatio: Double
        /// Oldest first.
        public var days: [Day]

        enum CodingKeys: String, CodingKey {
            case name, source, derived, days
            case minRatio = "min_ratio"
        }
    }

    public var checks: [Check]
}

extension CollectorRuntime {
    /// The last `days` dates (today in each rule's time zone included) of every completeness rule,
    /// or of the one named `check`. nil: no such rule.
    public func gaps(days: Int, check name: String? = nil, now: Millis) throws -> GapReport? {
        let rules = config.remediation.completeness.filter { name == nil || $0.name == name }
        if name != nil && rules.isEmpty { return nil }
        return try database.pool.read { db in
            GapReport(
                checks: try rules.map { check in
                    var window = check.rule
                    window.lookbackDays = days
                    let dates = window.partitions(at: now)
                    let source = latest(try detector.latestCounts(db, dataset: check.rule.source, partitions: dates))
                    let derived = latest(try detector.latestCounts(db, dataset: check.rule.derived, partitions: dates))
                    let expected = try check.expectedFrom.map { dataset in
                        Set(try detector.latestCounts(db, dataset: dataset, partitions: dates).filter { $0.count > 0 }.map(\.partition))
                    }
                    let actions = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT a.id, a.state, json_extract(a.parameters, '$.start') AS start, json_extract(a.parameters, '$.end') AS end
                            FROM actions a LEFT JOIN incidents i ON i.id = a.incident_id
                            WHERE a.name IN (?, ?) AND json_extract(a.parameters, '$.end') >= ? AND json_extract(a.parameters, '$.start') <= ?
                              AND (a.state IN ('pending', 'awaiting_approval', 'running', 'verifying') OR (a.state = 'escalated' AND i.state = 'open'))
                            ORDER BY a.created_at DESC
                            """, arguments: [check.backfill ?? "", check.scrape ?? "", dates.first ?? "", dates.last ?? ""])
                    return GapReport.Check(
                        name: check.name, source: check.rule.source, derived: check.rule.derived, minRatio: check.rule.minRatio,
                        days: dates.map { date in
                            let s = source[date], d = derived[date]
                            let ratio = s.flatMap { s in s > 0 ? Double(d ?? 0) / Double(s) : nil }
                            let short = (s ?? 0) > 0 ? (ratio ?? 0) < check.rule.minRatio : (expected?.contains(date) ?? false)
                            var state = short ? "gap" : "ok"
                            let covering = actions.first { ($0["start"] as String? ?? "") <= date && date <= ($0["end"] as String? ?? "") }
                            if short, let covering { state = (covering["state"] as String) == "escalated" ? "escalated" : "healing" }
                            return GapReport.Day(
                                date: date, sourceCount: s, derivedCount: d, gap: max(0, (s ?? 0) - (d ?? 0)), ratio: ratio, state: state,
                                actionID: short ? covering?["id"] : nil)
                        })
                })
        }
    }
}

private func latest(_ counts: [PartitionCount]) -> [String: Int64] {
    Dictionary(counts.map { ($0.partition, $0.count) }, uniquingKeysWith: { a, _ in a })
}
