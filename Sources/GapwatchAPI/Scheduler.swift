import GapwatchProtocol

/// A scheduler job as `GET /v1/audit/jobs` shows it.
public struct JobAudit: Codable, Sendable, Equatable {
    public var name: String
    public var agentID: String
    public var scheduler: String?
    public var schedule: String?
    public var timeZone: String?
    public var target: String?
    public var healthURL: String?
    /// The service the job's target belongs to (`scheme://host[:port]`).
    public var service: String?
    public var enabled: Bool
    /// false: missing from the latest inventory.
    public var present: Bool
    /// `healthy`, `failing` (failed probes in a row reached the rule's threshold), `degraded`
    /// (some failed, not yet enough) or `unknown` (never probed).
    public var targetHealth: String
    public var probeFailures: Int
    public var lastProbeAt: Millis?
    public var lastProbeDetail: String?
    public var lastAttemptAt: Millis?
    public var lastResult: String?
    public var lastSuccessAt: Millis?
    public var disabledByGapwatch: Bool
    public var firstSeenAt: Millis
    /// `target_failing`, `no_recent_success`, `disabled_by_gapwatch`, `missing_from_inventory`.
    public var flags: [String]

    public init(
        name: String, agentID: String, scheduler: String? = nil, schedule: String? = nil, timeZone: String? = nil, target: String? = nil,
        healthURL: String? = nil, service: String? = nil, enabled: Bool, present: Bool, targetHealth: String, probeFailures: Int,
        lastProbeAt: Millis? = nil, lastProbeDetail: String? = nil, lastAttemptAt: Millis? = nil, lastResult: String? = nil,
        lastSuccessAt: Millis? = nil, disabledByGapwatch: Bool, firstSeenAt: Millis, flags: [String]
    ) {
        self.name = name
        self.agentID = agentID
        self.scheduler = scheduler
        self.schedule = schedule
        self.timeZone = timeZone
        self.target = target
        self.healthURL = healthURL
        self.service = service
        self.enabled = enabled
        self.present = present
        self.targetHealth = targetHealth
        self.probeFailures = probeFailures
        self.lastProbeAt = lastProbeAt
        self.lastProbeDetail = lastProbeDetail
        self.lastAttemptAt = lastAttemptAt
        self.lastResult = lastResult
        self.lastSuccessAt = lastSuccessAt
        self.disabledByGapwatch = disabledByGapwatch
        self.firstSeenAt = firstSeenAt
        self.flags = flags
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, scheduler, schedule, target, service, enabled, present, flags, agentID
        case timeZone = "timezone"
        case healthURL, targetHealth, probeFailures, lastProbeAt, lastProbeDetail, lastAttemptAt, lastResult, lastSuccessAt, disabledByGapwatch,
            firstSeenAt
    }
}

/// A lock as `GET /v1/locks` shows it.
public struct LockInfo: Codable, Sendable, Equatable {
    public var name: String
    public var agentID: String
    public var holder: String?
    public var acquiredAt: Millis?
    public var expiresAt: Millis?
    public var seenAt: Millis
    /// How long the holder has held it (from acquired_at), at the time of the answer.
    public var ageMs: Millis?
    /// `free`, `held`, or `stuck` (by a stuck_locks rule).
    public var state: String
    /// Why it is stuck.
    public var reason: String?

    public init(
        name: String, agentID: String, holder: String? = nil, acquiredAt: Millis? = nil, expiresAt: Millis? = nil, seenAt: Millis,
        ageMs: Millis? = nil, state: String, reason: String? = nil
    ) {
        self.name = name
        self.agentID = agentID
        self.holder = holder
        self.acquiredAt = acquiredAt
        self.expiresAt = expiresAt
        self.seenAt = seenAt
        self.ageMs = ageMs
        self.state = state
        self.reason = reason
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, holder, state, reason, agentID, acquiredAt, expiresAt, seenAt, ageMs
    }
}
