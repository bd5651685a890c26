import GapwatchProtocol

/// `POST /v1/backfills` body.
public struct BackfillRequest: Codable, Sendable {
    public var action: String
    public var start: String
    public var end: String
    public var bypassChecks: Bool?

    public init(action: String, start: String, end: String, bypassChecks: Bool? = nil) {
        self.action = action
        self.start = start
        self.end = end
        self.bypassChecks = bypassChecks
    }

    enum CodingKeys: String, SnakeCaseKey {
        case action, start, end, bypassChecks
    }
}

/// An action as `GET /v1/actions` shows it.
public struct ActionInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var kind: String
    public var key: String
    public var incidentID: Int64?
    public var origin: String
    public var parameters: [String: String]
    public var state: String
    public var attempts: Int
    public var maxAttempts: Int
    public var createdAt: Millis
    public var updatedAt: Millis
    public var nextAttemptAt: Millis?
    public var approvedBy: String?
    /// Who asked for a manual action (a token id).
    public var requestedBy: String?
    public var detail: String
    /// For an action over a date range with a rule to judge it: partitions healed so far.
    public var progress: ActionProgress?

    enum CodingKeys: String, SnakeCaseKey {
        case id, name, kind, key, origin, parameters, state, attempts, detail, progress, incidentID, maxAttempts, createdAt, updatedAt, nextAttemptAt,
            approvedBy, requestedBy
    }

    public init(
        id: String, name: String, kind: String, key: String, incidentID: Int64? = nil, origin: String, parameters: [String: String], state: String,
        attempts: Int, maxAttempts: Int, createdAt: Millis, updatedAt: Millis, nextAttemptAt: Millis? = nil, approvedBy: String? = nil,
        requestedBy: String? = nil, detail: String, progress: ActionProgress? = nil
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.key = key
        self.incidentID = incidentID
        self.origin = origin
        self.parameters = parameters
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.nextAttemptAt = nextAttemptAt
        self.approvedBy = approvedBy
        self.requestedBy = requestedBy
        self.detail = detail
        self.progress = progress
    }
}

/// How many partitions of an action's range are healed (verified) out of how many.
public struct ActionProgress: Codable, Sendable, Equatable {
    public var verified: Int
    public var total: Int

    enum CodingKeys: String, SnakeCaseKey {
        case verified = "partitions_verified"
        case total = "partitions_total"
    }

    public init(verified: Int, total: Int) {
        self.verified = verified
        self.total = total
    }
}
