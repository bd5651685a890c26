import GapwatchProtocol

/// Durable states of a check. "late" is not a state: it is computed from timestamps
/// (`HeartbeatVerdict.late`) so it needs no writes while the grace period runs.
public enum CheckState: String, Sendable, Codable, CaseIterable {
    /// Declared, never pinged yet. Still goes down if its first ping does not come in time.
    case new
    case up
    case down
    /// Not evaluated and not notified until resumed.
    case paused
}

/// What the collector knows about a heartbeat check's signals, all by observed time.
public struct HeartbeatFacts: Sendable, Equatable {
    /// When the check was created (or resumed): a never-pinged check is due one period after it.
    public var since: Millis
    /// Latest `ok` ping (for an agent's liveness: the latest observation of any kind).
    public var lastPingAt: Millis?
    /// Latest `start` ping.
    public var lastStartAt: Millis?
    /// Latest `fail` ping, or ping with a non-zero exit code.
    public var lastFailAt: Millis?
    public var lastFailReason: String?

    public init(since: Millis, lastPingAt: Millis? = nil, lastStartAt: Millis? = nil, lastFailAt: Millis? = nil, lastFailReason: String? = nil) {
        self.since = since
        self.lastPingAt = lastPingAt
        self.lastStartAt = lastStartAt
        self.lastFailAt = lastFailAt
        self.lastFailReason = lastFailReason
    }
}

/// A heartbeat check's definition: what it expects and how much slack it gives.
public struct HeartbeatRule: Sendable {
    public var expectation: Expectation
    public var graceMs: Millis

    public init(expectation: Expectation, graceMs: Millis) {
        self.expectation = expectation
        self.graceMs = graceMs
    }

    /// The check's state at `now`.
    ///
    /// - `holdOffUntil`: after a collector start, a check may not go down before this instant
    ///   (start + grace), because agents are still draining their spools. Data is judged by when it
    ///   was observed, so a ping that arrives late but was observed in time keeps the check up.
    public func evaluate(current: CheckState, facts: HeartbeatFacts, now: Millis, holdOffUntil: Millis = .min) -> HeartbeatVerdict {
        if current == .paused {
            return HeartbeatVerdict(state: .paused, reason: "paused", nextEvaluation: nil, dueAt: nil, late: false)
        }
        // The newest signal wins: a fail after the last ok is down at once.
        if let failAt = facts.lastFailAt, failAt >= (facts.lastPingAt ?? .min) {
            let why = facts.lastFailReason.map { ": \($0)" } ?? ""
            return HeartbeatVerdict(
                state: .down, reason: "failed at \(TimeParsing.format(failAt))\(why)", nextEvaluation: nil, dueAt: nil, late: false)
        }
        let base = facts.lastPingAt ?? facts.since
        guard let due = expectation.nextDue(after: base) else {
            // A cron that never fires again expects nothing more.
            return HeartbeatVerdict(
                state: facts.lastPingAt == nil ? .new : .up, reason: "no further slot in the schedule", nextEvaluation: nil, dueAt: nil, late: false)
        }
        let deadline = due + graceMs
        if now < deadline {
            return HeartbeatVerdict(
                state: facts.lastPingAt == nil ? .new : .up,
                reason: facts.lastPingAt.map { "pinged at \(TimeParsing.format($0))" } ?? "waiting for the first ping",
                nextEvaluation: deadline, dueAt: due, late: now >= due)
        }
        if now < holdOffUntil && (current == .new || current == .up) {
            // Past the deadline, but the collector only just started: give spools time to drain.
            return HeartbeatVerdict(state: current, reason: "collector start hold-off", nextEvaluation: holdOffUntil, dueAt: due, late: true)
        }
        let what =
            facts.lastPingAt.map { "no ping since \(TimeParsing.format($0))" }
            ?? "no ping since the check was created at \(TimeParsing.format(facts.since))"
        return HeartbeatVerdict(
            state: .down,
            reason: "\(what); expected \(expectation.summary) + \(Units.formatDuration(graceMs)) grace, due at \(TimeParsing.format(due))",
            nextEvaluation: nil, dueAt: due, late: true)
    }
}

public struct HeartbeatVerdict: Sendable, Equatable {
    public var state: CheckState
    /// Why, in one sentence; becomes the incident's reason when the state changes.
    public var reason: String
    /// When the check must be looked at again with no new signal (its deadline). nil: only a
    /// new signal (or a resume) can change it.
    public var nextEvaluation: Millis?
    /// When the next ping is expected (before grace).
    public var dueAt: Millis?
    /// Past `dueAt` but still within grace.
    public var late: Bool
}

/// Run duration from a `start` ping and the `ok` ping that followed it; nil when they don't pair.
public func runDuration(startAt: Millis?, okAt: Millis, reportedMs: Int64?) -> Int64? {
    if let reportedMs { return reportedMs }
    guard let startAt, startAt <= okAt else { return nil }
    return okAt - startAt
}

extension Expectation {
    /// "every 1h" or "cron '0 6 * * *' (Europe/Berlin)".
    public var summary: String {
        switch self {
        case .every(let ms): "every \(Units.formatDuration(ms))"
        case .cron(let schedule): "cron '\(schedule.expression.text)' (\(schedule.timeZoneID))"
        }
    }
}
