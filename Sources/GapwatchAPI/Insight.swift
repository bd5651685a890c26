import GapwatchProtocol

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

        public init(
            date: String, sourceCount: Int64? = nil, derivedCount: Int64? = nil, gap: Int64, ratio: Double? = nil, state: String,
            actionID: String? = nil, dueAt: Millis
        ) {
            self.date = date
            self.sourceCount = sourceCount
            self.derivedCount = derivedCount
            self.gap = gap
            self.ratio = ratio
            self.state = state
            self.actionID = actionID
            self.dueAt = dueAt
        }

        enum CodingKeys: String, SnakeCaseKey {
            case date, gap, ratio, state, sourceCount, derivedCount, actionID, dueAt
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

        public init(name: String, source: String, derived: String, minRatio: Double, partition: String, days: [Day]) {
            self.name = name
            self.source = source
            self.derived = derived
            self.minRatio = minRatio
            self.partition = partition
            self.days = days
        }

        enum CodingKeys: String, SnakeCaseKey {
            case name, source, derived, days, partition, minRatio
        }
    }

    public var checks: [Check]
    public init(checks: [Check]) {
        self.checks = checks
    }

}

/// The whole system on one screen: `GET /v1/overview`, `gapwatch status`, the dashboard's front page.
public struct SystemOverview: Codable, Sendable, Equatable {
    public struct AgentLine: Codable, Sendable, Equatable {
        public var id: String
        public var service: String
        public var lastSeen: Millis
        /// up, down or new (its liveness check's state), unknown when liveness is off.
        public var state: String

        public init(id: String, service: String, lastSeen: Millis, state: String) {
            self.id = id
            self.service = service
            self.lastSeen = lastSeen
            self.state = state
        }

        enum CodingKeys: String, SnakeCaseKey {
            case id, service, state, lastSeen
        }
    }

    public var generatedAt: Millis
    public var agents: [AgentLine]
    /// Checks by state (up, down, new, paused).
    public var checks: [String: Int]
    /// Open incidents, newest first (at most 20), and how many are open by rule.
    public var openIncidents: [IncidentInfo]
    public var openByRule: [String: Int]
    /// Actions pending, awaiting approval, running or verifying (at most 20, newest first), and how many by state.
    public var actionsInFlight: [ActionInfo]
    public var actionsByState: [String: Int]
    /// Scheduler jobs: how many, disabled, disabled by Gapwatch, on a failing target.
    public var jobs: Int
    public var jobsDisabled: Int
    public var jobsDisabledByGapwatch: Int
    public var jobsTargetFailing: Int
    public var stuckLocks: [LockInfo]

    public init(
        generatedAt: Millis, agents: [AgentLine], checks: [String: Int], openIncidents: [IncidentInfo], openByRule: [String: Int],
        actionsInFlight: [ActionInfo], actionsByState: [String: Int], jobs: Int, jobsDisabled: Int, jobsDisabledByGapwatch: Int,
        jobsTargetFailing: Int, stuckLocks: [LockInfo]
    ) {
        self.generatedAt = generatedAt
        self.agents = agents
        self.checks = checks
        self.openIncidents = openIncidents
        self.openByRule = openByRule
        self.actionsInFlight = actionsInFlight
        self.actionsByState = actionsByState
        self.jobs = jobs
        self.jobsDisabled = jobsDisabled
        self.jobsDisabledByGapwatch = jobsDisabledByGapwatch
        self.jobsTargetFailing = jobsTargetFailing
        self.stuckLocks = stuckLocks
    }

    enum CodingKeys: String, SnakeCaseKey {
        case agents, checks, jobs, generatedAt, openIncidents, openByRule, actionsInFlight, actionsByState, jobsDisabled, jobsDisabledByGapwatch,
            jobsTargetFailing, stuckLocks
    }
}

/// Items past their deadline and not final, by stale_items rule: `GET /v1/stale`, `gapwatch stale`.
public struct StaleItemInfo: Codable, Sendable, Equatable {
    public var check: String
    public var itemKind: String
    public var itemID: String
    public var status: String
    public var referenceTime: Millis?
    public var deadline: Millis?
    public var lastSeen: Millis

    public init(
        check: String, itemKind: String, itemID: String, status: String, referenceTime: Millis? = nil, deadline: Millis? = nil, lastSeen: Millis
    ) {
        self.check = check
        self.itemKind = itemKind
        self.itemID = itemID
        self.status = status
        self.referenceTime = referenceTime
        self.deadline = deadline
        self.lastSeen = lastSeen
    }

    enum CodingKeys: String, SnakeCaseKey {
        case check, status, deadline, itemKind, itemID, referenceTime, lastSeen
    }
}

/// The story of one subject: its observations, and the incidents and actions about it, in one
/// chronological list. `GET /v1/story?subject=`, `gapwatch timeline SUBJECT`.
public struct SubjectStory: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var at: Millis
        /// observation, incident or action.
        public var source: String
        /// For incidents and actions: one line for people (observations carry `observation`).
        public var text: String?
        public var observation: TimelineEntry?
        public var incidentID: Int64?
        public var actionID: String?

        public init(
            at: Millis, source: String, text: String? = nil, observation: TimelineEntry? = nil, incidentID: Int64? = nil, actionID: String? = nil
        ) {
            self.at = at
            self.source = source
            self.text = text
            self.observation = observation
            self.incidentID = incidentID
            self.actionID = actionID
        }

        enum CodingKeys: String, SnakeCaseKey {
            case at, source, text, observation, incidentID, actionID
        }
    }

    public var subject: String
    public var entries: [Entry]
    /// More observations of the subject than `limit` fell in the range: the oldest were left out.
    public var truncated: Bool
    public init(subject: String, entries: [Entry], truncated: Bool) {
        self.subject = subject
        self.entries = entries
        self.truncated = truncated
    }

}
