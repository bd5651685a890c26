import GapwatchProtocol
import GapwatchRules

extension Detector {
    /// Longest range the gaps table covers in one call.
    public static let maxGapsRangeMs: Millis = 31 * 86_400_000

    public func workflowGaps(since: Millis, now: Millis) throws -> WorkflowGapsReport {
        try database.read { tx in
            var hours: [WorkflowHour] = []
            for expectation in config.expectations.sorted(by: { $0.name < $1.name }) {
                let rule = expectation.rule
                var byHour: [Millis: WorkflowHour] = [:]
                func bucket(_ t: Millis) -> Millis { t - ((t % 3_600_000) + 3_600_000) % 3_600_000 }
                func row(_ hour: Millis) -> WorkflowHour {
                    byHour[hour]
                        ?? WorkflowHour(
                            expectation: expectation.name, workflow: rule.workflow, hour: hour, expected: 0, gaps: 0, healed: 0, runs: 0, skips: 0,
                            fails: 0, reasons: [])
                }
                let decisions = try self.decisions(tx, workflow: rule.workflow, from: since, to: now)
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
                let created = try tx.checks.createdAt(name: expectation.name, kind: ExpectationKind().checkKind) ?? now
                // The expectation's gap incidents: each covers the missed windows from the one that
                // opened it until it resolved, and healed them if its rerun was verified.
                let covering = try tx.incidentReads.spans(
                    withActionIn: ActionState.verified.rawValue, rule: IncidentRule.workflowGap.rawValue, subject: "expectation:\(expectation.name)",
                    openSince: since, limit: 50_000
                ).map { span -> (firstStart: Millis, resolvedAt: Millis?, rerunVerified: Bool) in
                    let opened = span.openedAt
                    let first = rule.windows.opens.previous(atOrBefore: opened - rule.graceMs - rule.windows.durationMs) ?? opened
                    return (first, span.resolvedAt, span.hasAction)
                }
                func healed(_ window: RunWindow) -> Bool {
                    guard let incident = covering.last(where: { $0.firstStart <= window.start }), let resolved = incident.resolvedAt else {
                        return false
                    }
                    return incident.rerunVerified && window.end <= resolved
                }
                let windows = rule.windows.windowsClosing(after: max(since, created), through: now - rule.graceMs, limit: 50_000)
                    .filter { $0.start >= since }
                for window in windows {
                    let inWindow = decisions.filter { $0.observedAt >= window.start && $0.observedAt < window.end }
                    let count = try rule.condition.map { try partitionCount(tx, dataset: $0.dataset, partition: window.partition) } ?? nil
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
