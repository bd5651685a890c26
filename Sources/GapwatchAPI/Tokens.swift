import GapwatchProtocol

/// What a token may do.
public enum TokenKind: String, Codable, Sendable, CaseIterable {
    /// Everything, including creating and revoking tokens.
    case admin
    /// Reports for one agent id only (403 for any other).
    case agent
    /// Reports for any agent id: one token for a large fleet. What it may say about facts is
    /// bounded by owners and by the service and labels bound on it, not by the ids it claims.
    case fleet
    /// GET endpoints only.
    case read
}

/// A token as listed by the API: never the secret, never its hash.
public struct TokenInfo: Codable, Sendable, Equatable {
    public var id: String
    public var kind: TokenKind
    public var agentID: String?
    /// The service and labels bound on the token (absent when none).
    public var service: String?
    public var labels: [String: String]?
    public var name: String
    public var createdAt: Millis
    public var revokedAt: Millis?

    public init(
        id: String, kind: TokenKind, agentID: String? = nil, service: String? = nil, labels: [String: String]? = nil, name: String,
        createdAt: Millis, revokedAt: Millis? = nil
    ) {
        self.id = id
        self.kind = kind
        self.agentID = agentID
        self.service = service
        self.labels = labels
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, SnakeCaseKey {
        case id, kind, name, service, labels, agentID, createdAt, revokedAt
    }
}

/// A newly created token: the only time its secret is shown.
public struct IssuedToken: Codable, Sendable {
    public var info: TokenInfo
    public var token: String

    public func encode(to encoder: any Encoder) throws {
        try info.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(token, forKey: .token)
    }

    public init(info: TokenInfo, token: String) {
        self.info = info
        self.token = token
    }

    public init(from decoder: any Decoder) throws {
        info = try TokenInfo(from: decoder)
        token = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: .token)
    }

    enum Key: String, CodingKey { case token }
}
