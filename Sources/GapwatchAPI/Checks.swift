import GapwatchProtocol

/// A check as `GET /v1/checks` shows it.
public struct CheckInfo: Codable, Sendable, Equatable {
    public var name: String
    /// heartbeat | liveness | expectation
    public var kind: String
    public var state: String
    /// Past its due time but within grace (computed, not stored).
    public var late: Bool
    public var reason: String
    /// "every 1h", "cron '0 6 * * *' (UTC)", or the run window.
    public var expects: String
    public var graceMs: Millis
    public var lastPingAt: Millis?
    public var lastStartAt: Millis?
    public var lastFailAt: Millis?
    public var lastDurationMs: Int64?
    public var feederAgentID: String?
    public var nextDue: Millis?
    public var changedAt: Millis

    public init(
        name: String, kind: String, state: String, late: Bool, reason: String, expects: String, graceMs: Millis, lastPingAt: Millis? = nil,
        lastStartAt: Millis? = nil, lastFailAt: Millis? = nil, lastDurationMs: Int64? = nil, feederAgentID: String? = nil, nextDue: Millis? = nil,
        changedAt: Millis
    ) {
        self.name = name
        self.kind = kind
        self.state = state
        self.late = late
        self.reason = reason
        self.expects = expects
        self.graceMs = graceMs
        self.lastPingAt = lastPingAt
        self.lastStartAt = lastStartAt
        self.lastFailAt = lastFailAt
        self.lastDurationMs = lastDurationMs
        self.feederAgentID = feederAgentID
        self.nextDue = nextDue
        self.changedAt = changedAt
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, kind, state, late, reason, expects, graceMs, lastPingAt, lastStartAt, lastFailAt, lastDurationMs, feederAgentID, nextDue, changedAt
    }
}

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
        expectation: String, workflow: String, hour: Millis, expected: Int, gaps: Int, healed: Int, runs: Int, skips: Int, fails: Int,
        reasons: [String]
    ) {
        (self.expectation, self.workflow, self.hour, self.expected, self.gaps, self.healed) = (expectation, workflow, hour, expected, gaps, healed)
        (self.runs, self.skips, self.fails, self.reasons) = (runs, skips, fails, reasons)
    }

    /// Windows missed and not (yet) healed.
    public var unhealed: Int { max(0, gaps - healed) }

    enum CodingKeys: String, SnakeCaseKey {
        case expectation, workflow, hour, expected, gaps, healed, runs, skips, fails, reasons
    }

    /// `healed` is absent from older collectors' answers: 0 then.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            expectation: try c.decode(String.self, forKey: .expectation), workflow: try c.decode(String.self, forKey: .workflow),
            hour: try c.decode(Millis.self, forKey: .hour), expected: try c.decode(Int.self, forKey: .expected),
            gaps: try c.decode(Int.self, forKey: .gaps),
            healed: try c.decodeIfPresent(Int.self, forKey: .healed) ?? 0, runs: try c.decode(Int.self, forKey: .runs),
            skips: try c.decode(Int.self, forKey: .skips), fails: try c.decode(Int.self, forKey: .fails),
            reasons: try c.decode([String].self, forKey: .reasons))
    }
}

public struct WorkflowGapsReport: Codable, Sendable, Equatable {
    public var since: Millis
    public var until: Millis
    public var hours: [WorkflowHour]
    public init(since: Millis, until: Millis, hours: [WorkflowHour]) {
        self.since = since
        self.until = until
        self.hours = hours
    }

}
