import GapwatchProtocol

/// Which observations a timeline query wants. Times are inclusive `from`, exclusive `to`.
public struct TimelineFilter: Sendable, Equatable {
    /// A subject, or a glob of subjects (`*` any run, `?` one character): `workflow:post_game*`.
    public var subject: String?
    /// Only observations from agents of this service, or carrying all these labels.
    public var service: String?
    public var labels: [String: String] = [:]
    public var kind: ObservationKind?
    public var agentID: String?
    public var from: Millis?
    public var to: Millis?
    public var limit: Int = 100
    public var after: TimelineCursor?

    public init() {}
}

/// Keyset position in a timeline: the last entry returned. Opaque to clients.
public struct TimelineCursor: Sendable, Equatable {
    var observedAt: Millis
    var streamID: Int64
    var seq: Int64

    public var token: String { "\(observedAt)_\(streamID)_\(seq)" }

    public init?(token: String) {
        let parts = token.split(separator: "_")
        guard parts.count == 3, let a = Millis(parts[0]), let b = Int64(parts[1]), let c = Int64(parts[2]) else { return nil }
        observedAt = a
        streamID = b
        seq = c
    }

    init(observedAt: Millis, streamID: Int64, seq: Int64) {
        self.observedAt = observedAt
        self.streamID = streamID
        self.seq = seq
    }
}

/// The timeline, agents and counts the API, CLI and dashboard read (one read transaction each).
protocol TimelineReads {
    /// Every agent but the collector's own, by id, with its streams' totals.
    func agents() throws -> [AgentInfo]
    /// Observations in `observed_at` order, one page at a time.
    func timeline(_ filter: TimelineFilter) throws -> TimelinePage
    /// Total stored observations.
    func observationCount() throws -> Int
    /// The daily rollups of `subject` from `fromDay` to `toDay` (YYYY-MM-DD, inclusive), by day.
    func rollups(subject: String, fromDay: String, toDay: String) throws -> [DailyRollup]
}

extension AppDatabase {
    public func agents() throws -> [AgentInfo] {
        try read { tx in try tx.timelineReads.agents() }
    }

    /// Observations in `observed_at` order, one page at a time.
    public func timeline(_ filter: TimelineFilter) throws -> TimelinePage {
        try read { tx in try tx.timelineReads.timeline(filter) }
    }

    /// Total stored observations (for tests, benchmarks and `status`).
    public func observationCount() throws -> Int {
        try read { tx in try tx.timelineReads.observationCount() }
    }

    /// The daily rollups of `subject` from `fromDay` to `toDay` (YYYY-MM-DD, inclusive), by day.
    public func rollups(subject: String, fromDay: String, toDay: String) throws -> [DailyRollup] {
        try read { tx in try tx.timelineReads.rollups(subject: subject, fromDay: fromDay, toDay: toDay) }
    }
}
