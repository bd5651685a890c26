#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The protocol versions this build speaks. A report names one in `protocol`.
public enum ProtocolVersion {
    public static let current = 1
    public static let supported = [1]
}

/// Milliseconds since the Unix epoch, UTC. Every time on the wire uses this unit.
public typealias Millis = Int64

/// `POST /v1/reports` body: who is reporting and a batch of observations from one spool.
public struct Report: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    public var agent: AgentIdentity
    /// Changes every time the agent process starts.
    public var bootID: String
    /// Identifies one spool (a state folder). A spool created afresh gets a new id, so its seq 1
    /// is a new observation, not a duplicate of the old spool's seq 1.
    public var spoolID: String
    /// The spool this one replaced when the agent rotated it (a restored spool, see `conflictingSeq`);
    /// nil otherwise. The collector moves the agent's commands to the new spool at once when this
    /// names the spool they were bound to.
    public var previousSpoolID: String?
    /// The agent's clock when it sent the report; the collector derives clock skew from it.
    public var sentAt: Millis
    public var observations: [Observation]

    public init(
        protocolVersion: Int = ProtocolVersion.current, agent: AgentIdentity, bootID: String,
        spoolID: String, sentAt: Millis, observations: [Observation], previousSpoolID: String? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.agent = agent
        self.bootID = bootID
        self.spoolID = spoolID
        self.previousSpoolID = previousSpoolID
        self.sentAt = sentAt
        self.observations = observations
    }

    enum CodingKeys: String, SnakeCaseKey {
        case protocolVersion = "protocol"
        case agent, bootID, spoolID, previousSpoolID, sentAt, observations
    }
}

public struct AgentIdentity: Codable, Sendable, Equatable {
    public var id: String
    public var service: String
    public var host: String
    public var version: String
    public var labels: [String: String]

    public init(id: String, service: String, host: String, version: String, labels: [String: String] = [:]) {
        self.id = id
        self.service = service
        self.host = host
        self.version = version
        self.labels = labels
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        service = try c.decodeIfPresent(String.self, forKey: .service) ?? ""
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? ""
        version = try c.decodeIfPresent(String.self, forKey: .version) ?? ""
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }
}

/// The collector's answer to an accepted report.
public struct ReportResponse: Codable, Sendable, Equatable {
    /// The highest seq of this spool that the collector has durably stored. The agent may delete
    /// every spooled record up to and including it.
    public var ackedSeq: UInt64
    /// How many observations of this report were new (the rest were duplicates, dropped).
    public var stored: Int
    public var duplicates: Int
    /// Work for the agent. Always present; empty until remediation is configured.
    public var commands: [AgentCommand]
    /// Set when the collector already holds this seq of this spool with other content: the spool
    /// was restored from a copy (a VM or disk snapshot) and reuses seqs. Nothing from this seq on
    /// was stored and `ackedSeq` stays below it; the agent rotates to a new spool id and sends the
    /// records again under it. Absent otherwise.
    public var conflictingSeq: UInt64?
    /// Observations of this report the collector acknowledged without storing them, one by one
    /// (e.g. dated beyond its clock tolerance). `acked_seq` covers them: the agent must not send
    /// them again, and counts them. On the wire only when not empty.
    public var refused: [RefusedObservation]

    public init(
        ackedSeq: UInt64, stored: Int, duplicates: Int, commands: [AgentCommand] = [], conflictingSeq: UInt64? = nil,
        refused: [RefusedObservation] = []
    ) {
        self.ackedSeq = ackedSeq
        self.stored = stored
        self.duplicates = duplicates
        self.commands = commands
        self.conflictingSeq = conflictingSeq
        self.refused = refused
    }

    enum CodingKeys: String, SnakeCaseKey {
        case ackedSeq, stored, duplicates, commands, refused, conflictingSeq
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ackedSeq = try c.decode(UInt64.self, forKey: .ackedSeq)
        stored = try c.decode(Int.self, forKey: .stored)
        duplicates = try c.decode(Int.self, forKey: .duplicates)
        commands = try c.decode([AgentCommand].self, forKey: .commands)
        conflictingSeq = try c.decodeIfPresent(UInt64.self, forKey: .conflictingSeq)
        refused = try c.decodeIfPresent([RefusedObservation].self, forKey: .refused) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ackedSeq, forKey: .ackedSeq)
        try c.encode(stored, forKey: .stored)
        try c.encode(duplicates, forKey: .duplicates)
        try c.encode(commands, forKey: .commands)
        try c.encodeIfPresent(conflictingSeq, forKey: .conflictingSeq)
        if !refused.isEmpty { try c.encode(refused, forKey: .refused) }
    }
}

/// One observation of a report that the collector acknowledged but did not store or apply, and
/// why. `field` names what was wrong (`observations[3].observed_at`), as in an error body.
public struct RefusedObservation: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var field: String
    public var reason: String

    public init(seq: UInt64, field: String, reason: String) {
        self.seq = seq
        self.field = field
        self.reason = reason
    }
}

/// A command the collector hands an agent. The agent runs it only if its own config allows
/// `name`, filling `parameters` into that command's argv template.
public struct AgentCommand: Codable, Sendable, Equatable {
    public var actionID: String
    public var name: String
    public var parameters: [String: String]
    public var timeoutSeconds: Int?

    public init(actionID: String, name: String, parameters: [String: String] = [:], timeoutSeconds: Int? = nil) {
        self.actionID = actionID
        self.name = name
        self.parameters = parameters
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, SnakeCaseKey {
        case actionID, name, parameters, timeoutSeconds
    }
}

/// Every error response of the collector's API has this body.
public struct ErrorBody: Codable, Sendable, Equatable {
    /// A stable machine-readable code, e.g. `invalid_report`; see protocol/README.md.
    public var error: String
    /// What is wrong, for a person.
    public var message: String
    /// The offending field as a path, e.g. `observations[3].seq`, where one is to blame.
    public var field: String?
    /// With `unsupported_version`: the versions the collector speaks.
    public var supported: [Int]?

    public init(error: String, message: String, field: String? = nil, supported: [Int]? = nil) {
        self.error = error
        self.message = message
        self.field = field
        self.supported = supported
    }
}
