import GapwatchProtocol

/// Every rule that opens incidents: the one list that silences accept, metrics report and
/// `protocol/openapi.yaml`'s `RuleName` enum names (a test holds them equal). A rule added to the
/// detector is added here, or a silence on it is refused.
public enum IncidentRule: String, CaseIterable, Sendable {
    /// A heartbeat check from `checks:` (subject check:NAME).
    case heartbeat
    /// An agent stopped reporting (subject agent:ID).
    case liveness
    /// A run window closed with no RUN (subject expectation:NAME).
    case workflowGap = "workflow_gap"
    /// Date partitions need a backfill or a scrape (subject completeness:NAME:backfill|scrape).
    case completeness
    /// Items not final by their deadline (subject stale:NAME).
    case staleItems = "stale_items"
    /// A dataset stopped updating (subject freshness:NAME).
    case freshness
    /// Scheduler jobs point at a failing service (subject target:SERVICE).
    case targetUnhealthy = "target_unhealthy"
    /// An enabled job has not succeeded for its schedule (subject job:JOB).
    case jobNoSuccess = "job_no_success"
    /// A lock held past its expiry (subject lock:NAME).
    case stuckLock = "stuck_lock"
    /// An agent's probe failed `probe_failures.after` runs in a row: its command failed or its
    /// output could not be read (subject probe:AGENT/PROBE).
    case probeFailing = "probe_failing"
    /// An agent's clock is off by more than `clock_skew.tolerance` (subject clock:AGENT).
    case clockSkew = "clock_skew"

    /// The names, in declaration order.
    public static var names: [String] { allCases.map(\.rawValue) }
}

/// A maintenance window: incidents it matches during [startsAt, endsAt) are recorded but not notified.
public struct Silence: Sendable, Equatable, Codable {
    public var id: Int64
    /// Exact rule name ("heartbeat", "workflow_gap"); nil matches any.
    public var rule: String?
    /// Subject pattern; `*` matches any run of characters ("check:nightly-*"); nil matches any.
    public var subject: String?
    /// Every label here must be on the incident with the same value.
    public var labels: [String: String]
    public var startsAt: Millis
    public var endsAt: Millis
    public var comment: String

    public init(id: Int64, rule: String?, subject: String?, labels: [String: String], startsAt: Millis, endsAt: Millis, comment: String) {
        self.id = id
        self.rule = rule
        self.subject = subject
        self.labels = labels
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.comment = comment
    }

    public func matches(rule: String, subject: String, labels: [String: String], at now: Millis) -> Bool {
        guard now >= startsAt && now < endsAt else { return false }
        if let r = self.rule, r != rule { return false }
        if let pattern = self.subject, !globMatch(pattern, subject) { return false }
        return self.labels.allSatisfy { labels[$0.key] == $0.value }
    }
}

/// `*` matches any run of characters (including none); every other character matches itself.
public func globMatch(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.utf8)
    let t = Array(text.utf8)
    var pi = 0
    var ti = 0
    var star = -1
    var mark = 0
    while ti < t.count {
        if pi < p.count && p[pi] != UInt8(ascii: "*") && p[pi] == t[ti] {
            pi += 1
            ti += 1
        } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
}

/// What to do with one incident state change when it is about to be notified.
public enum NotificationDecision: Sendable, Equatable {
    case send
    /// A silence matches: record, don't send.
    case silenced(silenceID: Int64)
    /// The only agent feeding the check is itself down: its own incident pages; this one is recorded.
    case suppressed(reason: String)
    /// The feeding agent is late (not yet down): wait, so one page goes out, not twenty.
    case deferUntil(Millis)
    /// A resolution or reminder of an incident whose opening was never notified.
    case notNeeded(reason: String)
}

/// The state of the agent that alone feeds a check, as far as dependency suppression cares.
public enum FeederState: Sendable, Equatable {
    case unknown
    case up
    /// Its liveness is overdue but within grace; it will be decided by `decidedBy`.
    case late(decidedBy: Millis)
    case down
}

/// Decides whether an incident state change is sent, silenced, suppressed or deferred.
/// `event` is "opened", "resolved" or "reminder"; `openingNotified` tells whether this incident's
/// opening reached anyone (a resolution is notified exactly when it did; reminders only then,
/// and silences hold them back).
public func decideNotification(
    event: String, rule: String, subject: String, labels: [String: String], feederAgent: String?, feeder: FeederState,
    openingNotified: Bool, silences: [Silence], now: Millis
) -> NotificationDecision {
    // An escalation asks for a person: it is sent like an opening, even if the opening was not.
    if event != "opened" && event != "escalated" && !openingNotified {
        return .notNeeded(reason: "the opening was not notified")
    }
    // A resolution always follows a notified opening, silenced or not, so nobody is left with an open page.
    if event == "resolved" { return .send }
    if let silence = silences.first(where: { $0.matches(rule: rule, subject: subject, labels: labels, at: now) }) {
        return .silenced(silenceID: silence.id)
    }
    if event == "opened", let agent = feederAgent {
        switch feeder {
        case .down: return .suppressed(reason: "agent \(agent), the only source of this check, is down")
        case .late(let decidedBy): return .deferUntil(decidedBy)
        case .up, .unknown: break
        }
    }
    return .send
}
