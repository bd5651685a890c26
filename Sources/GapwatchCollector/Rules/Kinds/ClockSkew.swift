import GapwatchProtocol
import GapwatchRules

/// Agents' clocks: an agent whose reports' `sent_at` is off the collector's receive time by more
/// than `clock_skew.tolerance` has a check `clock:ID` (made by the ingest writer when that first
/// happens, judged when it changes) and, while it is off, a `clock_skew` incident. It resolves at
/// the first report whose clock is within the tolerance again.
struct ClockSkewKind: AutomaticRuleKind {
    static let kind = "clock_skew"
    let rules: [IncidentRule] = [.clockSkew]

    func expects(check name: String, _ detector: Detector) -> (text: String, graceMs: Millis)? {
        (
            "the agent's clock within \(Units.formatDuration(detector.config.clockSkew.toleranceMs)) of the collector's, judged from its reports' sent_at",
            0
        )
    }

    /// With `clock_skew.incidents: false`, the clock checks go and their incidents resolve.
    func syncAutomaticChecks(_ tx: StoreTransaction, _ detector: Detector, now: Millis) throws {
        if detector.config.clockSkew.incidents {
            // The tolerance may have changed: judge every clock again.
            try tx.checks.markDue(kinds: [checkKind], now: now)
            return
        }
        try retireChecks(tx, reason: "clock checks were turned off in the config", detector, now: now)
    }

    func evaluate(_ tx: StoreTransaction, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        let agentID = String(name.dropFirst("clock:".count))
        let config = detector.config.clockSkew
        guard config.incidents, let current = check.state, current != .paused,
            let agent = try tx.agents.clock(of: agentID)
        else { return .unjudgeable }
        let skew = agent.skewMs
        let tolerance = config.toleranceMs
        let state: CheckState
        let reason: String
        if skew > tolerance || skew < -tolerance {
            reason = Self.clockReason(agentID: agentID, skewMs: skew, toleranceMs: tolerance)
            var labels = ["agent": agentID]
            if let service = agent.service, !service.isEmpty { labels["service"] = service }
            try detector.incidents(tx).open(
                rule: IncidentRule.clockSkew.rawValue, subject: name, reason: reason, labels: labels, feederAgent: nil, at: now)
            if current != .down { detector.logger.notice("agent clock off", metadata: ["agent.id": "\(agentID)", "clock_skew_ms": "\(skew)"]) }
            state = .down
        } else {
            reason = "agent \(agentID)'s clock is within \(Units.formatDuration(tolerance)) of the collector's (off by \(Self.clockAmount(skew)))"
            if current == .down {
                try detector.incidents(tx).resolve(
                    rule: IncidentRule.clockSkew.rawValue, subject: name, reason: "the clock is right again: \(reason)", at: now)
            }
            state = .up
        }
        return .judged(CheckJudgement(state: state, reason: reason, nextDue: nil))
    }
}

extension ClockSkewKind {
    /// Why a clock incident is open, in one sentence; what the collector does with the agent's times.
    static func clockReason(agentID: String, skewMs: Millis, toleranceMs: Millis) -> String {
        let what =
            "agent \(agentID)'s clock is \(clockAmount(skewMs)) \(skewMs < 0 ? "ahead of" : "behind") the collector's (tolerance \(Units.formatDuration(toleranceMs)))"
        return skewMs < 0
            ? "\(what): its observations are stored moved back by that much, and any still dated after their receive time plus the tolerance are refused"
            : "\(what): its observations are stored as dated, so they look late to its checks"
    }

    /// "3h 12m", "45s": the size of a skew, rounded for people.
    static func clockAmount(_ skewMs: Millis) -> String {
        skewMs == .min ? Units.formatAge(.max) : Units.formatAge(skewMs < 0 ? -skewMs : skewMs)
    }
}
