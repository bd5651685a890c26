import GRDB
import GapwatchProtocol
import GapwatchRules

/// One hour of one run expectation in `GET /v1/workflows/gaps`: expected runs (windows that
/// opened in the hour and were expected) against actual decisions observed in the hour.
public struct WorkflowHour: Codable, Sendable, Equatable {
    public var expectation: String
    public var workflow: String
    public var hour: Millis
    public var expected: Int
    /// Expected windows that closed with no RUN (missed)...
    public var gaps: Int
    /// ...and of those, the ones healed: their gap's rerun action ran and was verified (a RUN
    /// came), so the window was run after all. `gaps - healed` are still missing.
    public var healed: Int
    public var runs: Int
    public var skips: Int
    public var fails: Int
    /// Distinct SKIP/FAIL reasons seen in the hour.
    public var reasons: [String]

    public init(
        expectation: String, workflow: String, hour: Millis, expected: Int, gaps: Int, healed: Int, runs: Int, skips: Int, fails: Int, reasons: [String]
    ) {
        (self.expectation, self.workflow, self.hour, self.expected, self.gaps, self.healed) = (expectation, workflow, hour, expected, gaps, healed)
        (self.runs, self.skips, self.fails, self.reasons) = (runs, skips, fails, reasons)
    }

    /// Windows missed and not (yet) healed.
    public var unhealed: Int { max(0, gaps - healed) }

    enum CodingKeys: String, CodingKey {
        case expectation, workflow, hour, expected, gaps, healed, runs, skips, fails, reasons
    }

    /// `healed` is absent from older collectors' answers: 0 then.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            expectation: try c.decode(String.self, forKey: .expectation), workflow: try c.decode(String.self, forKey: .workflow),
            hour: try c.decode(Millis.self, forKey: .hour), expected: try c.decode(Int.self, forKey: .expected), gaps: try c.decode(Int.self, forKey: .gaps),
            healed: try c.decodeIfPresent(Int.self, forKey: .healed) ?? 0, runs: try c.decode(Int.self, forKey: .runs),
            skips: try c.decode(Int.self, forKey: .skips), fails: try c.decode(Int.self, forKey: .fails), reasons: try c.decode([String].self, forKey: .reasons))
    }
}

public struct WorkflowGapsReport: Codable, Sendable, Equatable {
    public var since: Millis
    public var until: Millis
    public var hours: [WorkflowHour]
}

extension Detector {
    /// Longest range the gaps table covers in one call.
    public static let maxGapsRangeMs: Millis = 31 * 86_400_000

    public func workflowGaps(since: Millis, now: Millis) throws -> WorkflowGapsReport {
        try database.pool.read { db in
            var hours: [WorkflowHour] = []
            for expectation in config.expectations.sorted(by: { $0.name < $1.name }) {
                let rule = expectation.rule
                var byHour: [Millis: WorkflowHour] = [:]
                func bucket(_ t: Millis) -> Millis { t - ((t % 3_600_000) + 3_600_000) % 3_600_000 }
                func row(_ hour: Millis) -> WorkflowHour {
                    byHour[hour] ?? WorkflowHour(
                        expectation: expectation.name, workflow: rule.workflow, hour: hour, expected: 0, gaps: 0, healed: 0, runs: 0, skips: 0,
                        fails: 0, reasons: [])
                }
                let decisions = try self.decisions(db, workflow: rule.workflow, from: since, to: now)
                for d in decisions {
                    var h = row(bucket(d.observedAt))
                    switch d.decision {
                    case .run: h.runs += 1
                    case .skip: h.skips += 1
                    case .fail: h.fails += 1
                    }
                    if d.decision != .run, let reason = d.reason, !h.reasons.contains(reason), h.reasons.count < 10 { h.reasons.append(reason) }
                    byHour[h.hour] = h
                }
                // The windows the detector judges: closed at least `grace` ago, and closing after
                // the expectation was created (or last resumed), as its incidents are decided.
                let created = try Millis.fetchOne(
                    db, sql: "SELECT created_at FROM checks WHERE name = ? AND kind = 'expectation'", arguments: [expectation.name]) ?? now
                // The expectation's gap incidents: each covers the missed windows from the one that
                // opened it until it resolved, and healed them if its rerun was verified.
                let covering = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT i.opened_at, i.resolved_at,
                            EXISTS (SELECT 1 FROM actions a WHERE a.incident_id = i.id AND a.state = '\(ActionState.verified.rawValue)') AS rerun_verified
                        FROM incidents i WHERE i.rule = ? AND i.subject = ? AND (i.resolved_at IS NULL OR i.resolved_at >= ?)
                        ORDER BY i.opened_at LIMIT 50000
                        """, arguments: [IncidentRule.workflowGap.rawValue, "expectation:\(expectation.name)", since]
                ).map { row -> (firstStart: Millis, resolvedAt: Millis?, rerunVerified: Bool) in
                    let opened: Millis = row["opened_at"]
                    let first = rule.windows.opens.previous(atOrBefore: opened - rule.graceMs - rule.windows.durationMs) ?? opened
                    return (first, row["resolved_at"], row["rerun_verified"])
                }
                func healed(_ window: RunWindow) -> Bool {
                    guard let incident = covering.last(where: { $0.firstStart <= window.start }), let resolved = incident.resolvedAt else { return false }
                    return incident.rerunVerified && window.end <= resolved
                }
                let windows = rule.windows.windowsClosing(after: max(since, created), through: now - rule.graceMs, limit: 50_000)
                    .filter { $0.start >= since }
                for window in windows {
                    let inWindow = decisions.filter { $0.observedAt >= window.start && $0.observedAt < window.end }
                    let count = try rule.condition.map { try partitionCount(db, dataset: $0.dataset, partition: window.partition) } ?? nil
                    var h = row(bucket(window.start))
                    switch rule.judge(window, decisions: inWindow, partitionCount: count) {
                    case .ran: h.expected += 1
                    case .gap:
                        h.expected += 1
                        h.gaps += 1
                        if healed(window) { h.healed += 1 }
                    case .notExpected: break
                    }
                    byHour[h.hour] = h
                }
                hours += byHour.values.sorted { $0.hour < $1.hour }
            }
            return WorkflowGapsReport(since: since, until: now, hours: hours)
        }
    }
}
