import GapwatchProtocol

/// What is being notified: one state change of one incident. JSON keys are snake_case; this is the
/// webhook body and a command channel's standard input.
public struct NotificationMessage: Sendable, Codable, Equatable {
    /// Unique per state change; stable across retries (receivers deduplicate on it).
    public var eventID: Int64
    public var incidentID: Int64
    /// "heartbeat", "workflow_gap", ...
    public var rule: String
    /// "check:nightly-export", "agent:host-1", ...
    public var subject: String
    /// "opened" | "resolved" | "reminder"
    public var event: String
    /// A human sentence: why it changed.
    public var reason: String
    /// Milliseconds since 1970, when the change happened.
    public var at: Int64
    public var openedAt: Int64
    public var labels: [String: String]
    /// The collector's name or host, for the reader.
    public var collector: String
    /// A grouped message (`notify.group`): every incident it stands for, this one first. The
    /// top-level fields are the first one's; `reason` lists them all. Absent for a single incident.
    public var incidents: [GroupedIncident]?

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case incidentID = "incident_id"
        case rule, subject, event, reason, at
        case openedAt = "opened_at"
        case labels, collector, incidents
    }

    public init(
        eventID: Int64, incidentID: Int64, rule: String, subject: String, event: String, reason: String, at: Int64,
        openedAt: Int64, labels: [String: String] = [:], collector: String
    ) {
        self.eventID = eventID
        self.incidentID = incidentID
        self.rule = rule
        self.subject = subject
        self.event = event
        self.reason = reason
        self.at = at
        self.openedAt = openedAt
        self.labels = labels
        self.collector = collector
    }
}

/// One incident of a grouped notification.
public struct GroupedIncident: Sendable, Codable, Equatable {
    public var eventID: Int64
    public var incidentID: Int64
    public var subject: String
    public var reason: String
    public var at: Int64

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case incidentID = "incident_id"
        case subject, reason, at
    }

    public init(eventID: Int64, incidentID: Int64, subject: String, reason: String, at: Int64) {
        self.eventID = eventID
        self.incidentID = incidentID
        self.subject = subject
        self.reason = reason
        self.at = at
    }
}
