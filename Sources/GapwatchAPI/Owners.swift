import GapwatchProtocol

/// An owned fact as `GET /v1/owners` lists it.
public struct FactOwnerInfo: Codable, Sendable, Equatable {
    public var fact: String
    public var agentID: String
    public var since: Millis
    /// The admin token that reassigned it; absent: its first report made the owner.
    public var assignedBy: String?

    public init(fact: String, agentID: String, since: Millis, assignedBy: String? = nil) {
        self.fact = fact
        self.agentID = agentID
        self.since = since
        self.assignedBy = assignedBy
    }

    enum CodingKeys: String, SnakeCaseKey {
        case fact, since, agentID, assignedBy
    }
}

/// A fact an agent reported and was refused, with how often (`GET /v1/owners`, `gapwatch agents`).
public struct RefusedClaimInfo: Codable, Sendable, Equatable {
    public var agentID: String
    public var fact: String
    /// Who may report it, as the latest refusal said.
    public var entitled: String
    public var count: Int64
    public var firstAt: Millis
    public var lastAt: Millis
    /// The seq of the latest refused observation (its agent's spool).
    public var lastSeq: Int64

    public init(agentID: String, fact: String, entitled: String, count: Int64, firstAt: Millis, lastAt: Millis, lastSeq: Int64) {
        self.agentID = agentID
        self.fact = fact
        self.entitled = entitled
        self.count = count
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.lastSeq = lastSeq
    }

    enum CodingKeys: String, SnakeCaseKey {
        case fact, entitled, count, agentID, firstAt, lastAt, lastSeq
    }
}

/// An `owners:` rule of the config, as `GET /v1/owners` shows it.
public struct OwnerRuleInfo: Codable, Sendable, Equatable {
    public var facts: [String]
    public var agents: [String]
    public var service: String?
    public var labels: [String: String]

    public init(facts: [String], agents: [String], service: String?, labels: [String: String]) {
        self.facts = facts
        self.agents = agents
        self.service = service
        self.labels = labels
    }
}

/// `GET /v1/owners`.
public struct OwnersListing: Codable, Sendable, Equatable {
    public var owners: [FactOwnerInfo]
    public var rules: [OwnerRuleInfo]
    public var refused: [RefusedClaimInfo]
    public init(owners: [FactOwnerInfo], rules: [OwnerRuleInfo], refused: [RefusedClaimInfo]) {
        self.owners = owners
        self.rules = rules
        self.refused = refused
    }

}
