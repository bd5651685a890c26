import GapwatchProtocol

/// An incident as the API shows it.
public struct IncidentInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var rule: String
    public var subject: String
    public var state: String
    public var openedAt: Millis
    public var resolvedAt: Millis?
    public var reason: String
    public var labels: [String: String]
    public var feederAgentID: String?
    public var notified: Bool
    /// Automatic healing gave up: it needs a person.
    public var escalated: Bool
    public var events: [IncidentEventInfo]?

    public init(
        id: Int64, rule: String, subject: String, state: String, openedAt: Millis, resolvedAt: Millis? = nil, reason: String,
        labels: [String: String], feederAgentID: String? = nil, notified: Bool, escalated: Bool, events: [IncidentEventInfo]? = nil
    ) {
        self.id = id
        self.rule = rule
        self.subject = subject
        self.state = state
        self.openedAt = openedAt
        self.resolvedAt = resolvedAt
        self.reason = reason
        self.labels = labels
        self.feederAgentID = feederAgentID
        self.notified = notified
        self.escalated = escalated
        self.events = events
    }

    enum CodingKeys: String, SnakeCaseKey {
        case id, rule, subject, state, reason, labels, notified, escalated, events, openedAt, resolvedAt, feederAgentID
    }
}

public struct IncidentEventInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Millis
    public var event: String
    public var oldState: String?
    public var newState: String
    public var reason: String
    /// pending | sent | failed | silenced | suppressed | not_needed
    public var notify: String
    public var notifyDetail: String?
    public var attempts: Int
    public var deliveries: [DeliveryInfo]

    public init(
        id: Int64, at: Millis, event: String, oldState: String? = nil, newState: String, reason: String, notify: String, notifyDetail: String? = nil,
        attempts: Int, deliveries: [DeliveryInfo]
    ) {
        self.id = id
        self.at = at
        self.event = event
        self.oldState = oldState
        self.newState = newState
        self.reason = reason
        self.notify = notify
        self.notifyDetail = notifyDetail
        self.attempts = attempts
        self.deliveries = deliveries
    }

    enum CodingKeys: String, SnakeCaseKey {
        case id, at, event, reason, notify, attempts, deliveries, oldState, newState, notifyDetail
    }
}

public struct DeliveryInfo: Codable, Sendable, Equatable {
    public var channel: String
    public var state: String
    public var attempts: Int
    public var lastAttemptAt: Millis
    public var detail: String

    public init(channel: String, state: String, attempts: Int, lastAttemptAt: Millis, detail: String) {
        self.channel = channel
        self.state = state
        self.attempts = attempts
        self.lastAttemptAt = lastAttemptAt
        self.detail = detail
    }

    enum CodingKeys: String, SnakeCaseKey {
        case channel, state, attempts, detail, lastAttemptAt
    }
}

/// A silence as the API shows it.
public struct SilenceInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var rule: String?
    public var subject: String?
    public var labels: [String: String]
    public var startsAt: Millis
    public var endsAt: Millis
    public var comment: String
    public var createdBy: String
    public var createdAt: Millis
    /// active | pending | expired | deleted
    public var status: String

    public init(
        id: Int64, rule: String? = nil, subject: String? = nil, labels: [String: String], startsAt: Millis, endsAt: Millis, comment: String,
        createdBy: String, createdAt: Millis, status: String
    ) {
        self.id = id
        self.rule = rule
        self.subject = subject
        self.labels = labels
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.comment = comment
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.status = status
    }

    enum CodingKeys: String, SnakeCaseKey {
        case id, rule, subject, labels, comment, status, startsAt, endsAt, createdBy, createdAt
    }
}

/// `POST /v1/silences` body. Either `ends_at` or `duration`; `starts_at` defaults to now.
public struct SilenceRequest: Codable, Sendable {
    public var rule: String?
    public var subject: String?
    public var labels: [String: String]?
    public var startsAt: String?
    public var endsAt: String?
    public var duration: String?
    public var comment: String?

    public init(
        rule: String? = nil, subject: String? = nil, labels: [String: String]? = nil, startsAt: String? = nil, endsAt: String? = nil,
        duration: String? = nil, comment: String? = nil
    ) {
        self.rule = rule
        self.subject = subject
        self.labels = labels
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.duration = duration
        self.comment = comment
    }

    enum CodingKeys: String, SnakeCaseKey {
        case rule, subject, labels, duration, comment, startsAt, endsAt
    }
}
