import GapwatchProtocol
import GapwatchRules

/// What a check expects, in words, for every check kind: `GET /v1/checks`' `expects` (so
/// `gapwatch checks`) and the dashboard's Checks page both show this one text.
extension Detector {
    /// The expectation and grace of the check `name` of `kind`. A kind this describer does not
    /// know says so in words rather than "?".
    func describeExpectation(kind: String, name: String) -> (text: String, graceMs: Millis) {
        switch kind {
        case "heartbeat":
            guard let check = heartbeats[name] else { return Self.notConfigured(kind) }
            var text = "a ping '\(check.ping)' " + Self.cadence(check.rule.expectation)
            if let service = check.service { text += " from service \(service)" }
            if !check.agentLabels.isEmpty {
                text += " from agents with " + check.agentLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
            return (text + " (\(Self.grace(check.rule.graceMs)))", check.rule.graceMs)
        case "liveness":
            let rule = config.liveness.rule
            return (
                "anything from the agent \(Self.cadence(rule.expectation)) (\(Self.grace(rule.graceMs)))", rule.graceMs
            )
        case "expectation":
            guard let e = expectations[name] else { return Self.notConfigured(kind) }
            let window = e.rule.windows
            var text =
                "a RUN of \(e.rule.workflow) within \(Units.formatDuration(window.durationMs)) of each cron '\(window.opens.expression.text)' (\(window.opens.timeZoneID))"
            if let condition = e.rule.condition {
                text += ", when \(condition.dataset) has \(condition.minCount == 1 ? "rows" : "at least \(condition.minCount) rows") for the date"
            }
            return (text + " (\(Self.grace(e.rule.graceMs)))", e.rule.graceMs)
        case "completeness":
            guard let c = remediation.completeness.first(where: { $0.name == name }) else { return Self.notConfigured(kind) }
            let r = c.rule
            let unit = r.granularity.noun
            let current = r.granularity == .day ? "today" : "this hour"
            var text = "derived \(r.derived) ≥ \(Self.percent(r.minRatio)) of \(r.source) per \(unit) (\(r.timeZone)), "
            text += r.lookback == 1 ? "\(current) only" : "\(current) and \(r.lookback - 1) \(unit)\(r.lookback == 2 ? "" : "s") back"
            text += "; a \(unit) is due \(Units.formatDuration(r.dueAfterMs)) after it ends"
            if let expected = c.expectedFrom { text += "; \(r.source) has rows wherever \(expected) has" }
            text += r.settleMs > 0 ? "; judged once the source count is settled for \(Units.formatDuration(r.settleMs))" : "; judged as counts arrive"
            return (text, r.settleMs)
        case "stale_items":
            guard let s = remediation.staleItems.first(where: { $0.name == name }) else { return Self.notConfigured(kind) }
            let finals = s.rule.finalStatuses.sorted().joined(separator: ", ")
            return ("every \(s.rule.itemKind) final (\(finals)) within \(Units.formatDuration(s.rule.deadlineMs)) of its reference time", s.rule.deadlineMs)
        case "freshness":
            guard let f = remediation.freshness.first(where: { $0.name == name }) else { return Self.notConfigured(kind) }
            return ("a count of \(f.rule.dataset) at least every \(Units.formatDuration(f.rule.maxAgeMs))", 0)
        case "job_targets":
            guard let t = remediation.schedulerTargets, t.name == name else { return Self.notConfigured(kind) }
            var text = "every scheduler job's target answers its probes (unhealthy after \(t.rule.failuresToOpen) failure\(t.rule.failuresToOpen == 1 ? "" : "s") in a row)"
            if t.noSuccess.periods > 0 {
                text += "; every enabled job succeeds within \(t.noSuccess.periods) scheduled run\(t.noSuccess.periods == 1 ? "" : "s") + \(Units.formatDuration(t.noSuccess.graceMs))"
            }
            return (text, t.noSuccess.graceMs)
        case "stuck_locks":
            guard let l = remediation.stuckLocks.first(where: { $0.name == name }) else { return Self.notConfigured(kind) }
            var text = "no lock '\(l.pattern)' held past its expiry + \(Units.formatDuration(l.rule.slackMs))"
            if let maxAge = l.rule.maxAgeMs { text += ", nor longer than \(Units.formatDuration(maxAge))" }
            return (text, l.rule.slackMs)
        case "probe":
            let after = config.probeFailures.after
            return ("the agent's probe runs without failing (an incident after \(after) failed run\(after == 1 ? "" : "s") in a row)", 0)
        case "clock_skew":
            return ("the agent's clock within \(Units.formatDuration(config.clockSkew.toleranceMs)) of the collector's, judged from its reports' sent_at", 0)
        default:
            return ("a \(kind) check (this collector cannot describe the kind)", 0)
        }
    }

    /// "every 5m" or "at each cron '0 6 * * *' (America/New_York)".
    static func cadence(_ expectation: Expectation) -> String {
        switch expectation {
        case .every(let ms): "every \(Units.formatDuration(ms))"
        case .cron(let schedule): "at each cron '\(schedule.expression.text)' (\(schedule.timeZoneID))"
        }
    }

    /// "grace 5m", or "no grace".
    static func grace(_ ms: Millis) -> String {
        ms > 0 ? "grace \(Units.formatDuration(ms))" : "no grace"
    }

    /// "90%", "99.5%".
    static func percent(_ ratio: Double) -> String { Units.formatPercent(ratio) }

    private static func notConfigured(_ kind: String) -> (String, Millis) {
        ("nothing: this \(kind) check is no longer in the config", 0)
    }
}
