import GapwatchProtocol

/// An observation as the timeline API returns it: where it came from, when it arrived, and the
/// observation's own flat fields.
public struct TimelineEntry: Codable, Sendable, Equatable {
    public var agentID: String
    public var spoolID: String
    public var subject: String
    public var receivedAt: Millis
    public var observation: Observation

    enum CodingKeys: String, SnakeCaseKey {
        case agentID, spoolID, subject, receivedAt
    }

    public init(agentID: String, spoolID: String, subject: String, receivedAt: Millis, observation: Observation) {
        self.agentID = agentID
        self.spoolID = spoolID
        self.subject = subject
        self.receivedAt = receivedAt
        self.observation = observation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        agentID = try c.decode(String.self, forKey: .agentID)
        spoolID = try c.decode(String.self, forKey: .spoolID)
        subject = try c.decode(String.self, forKey: .subject)
        receivedAt = try c.decode(Millis.self, forKey: .receivedAt)
        observation = try Observation(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(agentID, forKey: .agentID)
        try c.encode(spoolID, forKey: .spoolID)
        try c.encode(subject, forKey: .subject)
        try c.encode(receivedAt, forKey: .receivedAt)
        try observation.encode(to: encoder)
    }
}

/// One page of `GET /v1/timeline`; `next_cursor` is null on the last page.
public struct TimelinePage: Codable, Sendable {
    public var observations: [TimelineEntry]
    public var nextCursor: String?

    enum CodingKeys: String, SnakeCaseKey {
        case observations, nextCursor
    }

    public init(observations: [TimelineEntry], nextCursor: String?) {
        self.observations = observations
        self.nextCursor = nextCursor
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(observations, forKey: .observations)
        try c.encode(nextCursor, forKey: .nextCursor)  // explicit null: "no more pages"
    }
}

/// A day of one subject and kind after its raw observations were pruned.
public struct DailyRollup: Codable, Sendable, Equatable {
    public var subject: String
    public var kind: String
    public var day: String
    public var observations: Int64
    public var firstAt: Millis
    public var lastAt: Millis
    public var failed: Int64
    public var numMin: Int64?
    public var numMax: Int64?
    public var numSum: Int64?

    public init(
        subject: String, kind: String, day: String, observations: Int64, firstAt: Millis, lastAt: Millis, failed: Int64, numMin: Int64? = nil,
        numMax: Int64? = nil, numSum: Int64? = nil
    ) {
        self.subject = subject
        self.kind = kind
        self.day = day
        self.observations = observations
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.failed = failed
        self.numMin = numMin
        self.numMax = numMax
        self.numSum = numSum
    }

    enum CodingKeys: String, SnakeCaseKey {
        case subject, kind, day, observations, failed, firstAt, lastAt, numMin, numMax, numSum
    }
}
