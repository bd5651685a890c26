import GapwatchProtocol

/// Why `POST /v1/reports` refused a caller (401, 403, or 429 for a new agent id).
public enum RejectionReason: String, Codable, Sendable, CaseIterable {
    /// 401: no `Authorization: Bearer` header.
    case missingToken = "missing_token"
    /// 401: a token this collector never issued.
    case unknownToken = "unknown_token"
    /// 401: a token that was revoked (its id is known).
    case revokedToken = "revoked_token"
    /// 403: an agent token bound to another agent id than the report's.
    case wrongAgentID = "wrong_agent_id"
    /// 403: a read token, which may not send reports.
    case readToken = "read_token"
    /// 429: a new agent id from a fleet token that brought `fleet.new_agents_per_hour` already
    /// (the agent keeps its spool and retries after `Retry-After`).
    case newAgentRate = "new_agent_rate"
}

/// One (claimed agent id, token, source address, reason) whose reports were refused.
public struct RejectedAgentInfo: Codable, Sendable, Equatable {
    /// The agent id the caller claimed (its report's `agent.id`, or its `Gapwatch-Agent-Id`
    /// header when the token was refused before the body was read); sanitised and bounded, "" when none.
    public var claimedAgentID: String
    /// The token's id when the token is known (revoked, or valid but not for this agent id).
    public var tokenID: String?
    /// The address the request came from (the TCP peer: a proxy's address behind one).
    public var source: String
    public var reason: RejectionReason
    public var count: Int64
    public var firstSeen: Millis
    public var lastSeen: Millis

    public init(
        claimedAgentID: String, tokenID: String? = nil, source: String, reason: RejectionReason, count: Int64, firstSeen: Millis, lastSeen: Millis
    ) {
        self.claimedAgentID = claimedAgentID
        self.tokenID = tokenID
        self.source = source
        self.reason = reason
        self.count = count
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    enum CodingKeys: String, SnakeCaseKey {
        case source, reason, count, claimedAgentID, tokenID, firstSeen, lastSeen
    }
}

/// One stream (spool) an agent id has reported from, as `GET /v1/agents/{id}/streams` shows it.
/// The spool id is the stream's credential with a shared token, so only its first 8 characters are
/// shown: enough to match `gapwatch-agent status` on the host, not enough to report under it.
public struct AgentStreamInfo: Codable, Sendable, Equatable {
    /// The collector's number for the stream (what `rebind` takes).
    public var stream: Int64
    public var spoolPrefix: String
    public var previousSpoolPrefix: String?
    public var firstSeen: Millis
    public var lastSeen: Millis
    public var lastSeq: Int64
    /// The agent's commands go to this stream.
    public var bound: Bool

    public init(
        stream: Int64, spoolPrefix: String, previousSpoolPrefix: String? = nil, firstSeen: Millis, lastSeen: Millis, lastSeq: Int64, bound: Bool
    ) {
        self.stream = stream
        self.spoolPrefix = spoolPrefix
        self.previousSpoolPrefix = previousSpoolPrefix
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastSeq = lastSeq
        self.bound = bound
    }

    enum CodingKeys: String, SnakeCaseKey {
        case stream, bound, spoolPrefix, previousSpoolPrefix, firstSeen, lastSeen, lastSeq
    }
}

/// An agent as `GET /v1/agents` shows it.
public struct AgentInfo: Codable, Sendable, Equatable {
    public var id: String
    public var service: String
    public var host: String
    public var version: String
    public var labels: [String: String]
    public var bootID: String
    public var firstSeen: Millis
    public var lastSeen: Millis
    /// Highest seq stored from the agent's most recently active spool.
    public var lastSeq: UInt64
    public var droppedOverflow: Int64
    public var droppedCorrupt: Int64
    /// Collector receive time minus the agent's `sent_at` in its latest report (positive: agent clock behind).
    public var clockSkewMs: Int64
    /// Stored observations whose time was moved back by the agent's skew (its clock ran ahead).
    public var clockCorrected: Int64 = 0
    /// Observations refused as dated after their receive time plus the clock tolerance.
    public var clockRefused: Int64 = 0
    /// What its token or the collector config vouches for (check filters and owner rules match
    /// these); `service` and `labels` above are the report's own claim.
    public var boundService: String?
    public var boundLabels: [String: String]?
    /// Its observations refused because another agent owns their fact (`GET /v1/owners` lists which).
    public var refused: Int64 = 0

    public init(
        id: String, service: String, host: String, version: String, labels: [String: String], bootID: String, firstSeen: Millis, lastSeen: Millis,
        lastSeq: UInt64, droppedOverflow: Int64, droppedCorrupt: Int64, clockSkewMs: Int64, clockCorrected: Int64 = 0, clockRefused: Int64 = 0,
        boundService: String? = nil, boundLabels: [String: String]? = nil, refused: Int64 = 0
    ) {
        self.id = id
        self.service = service
        self.host = host
        self.version = version
        self.labels = labels
        self.bootID = bootID
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastSeq = lastSeq
        self.droppedOverflow = droppedOverflow
        self.droppedCorrupt = droppedCorrupt
        self.clockSkewMs = clockSkewMs
        self.clockCorrected = clockCorrected
        self.clockRefused = clockRefused
        self.boundService = boundService
        self.boundLabels = boundLabels
        self.refused = refused
    }

    enum CodingKeys: String, SnakeCaseKey {
        case id, service, host, version, labels, refused, boundService, boundLabels, bootID, firstSeen, lastSeen, lastSeq, droppedOverflow,
            droppedCorrupt, clockSkewMs, clockCorrected, clockRefused
    }
}
