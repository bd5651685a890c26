import Crypto
import Foundation
import GapwatchProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The authenticated caller of a request.
public struct TokenIdentity: Sendable, Equatable {
    public var tokenID: String
    public var kind: TokenKind
    public var agentID: String?
    /// The service and labels vouched for about every agent reporting with this token (agent
    /// and fleet tokens; bound at creation): what check filters and owner rules match.
    public var service: String?
    public var labels: [String: String] = [:]

    public init(tokenID: String, kind: TokenKind, agentID: String? = nil, service: String? = nil, labels: [String: String] = [:]) {
        self.tokenID = tokenID
        self.kind = kind
        self.agentID = agentID
        self.service = service
        self.labels = labels
    }

    public var canRead: Bool { kind == .admin || kind == .read }
    public var isAdmin: Bool { kind == .admin }

    /// Whether this token may send reports as `agentID`.
    public func mayReport(as agentID: String) -> Bool {
        switch kind {
        case .admin, .fleet: true
        case .agent: self.agentID == agentID
        case .read: false
        }
    }
}

/// Issues, checks and revokes tokens. Tokens are stored as SHA-256 hashes; lookups are cached for a
/// few seconds so the ingest path does not read the database on every request, and a revocation
/// through this store takes effect at once.
public final class TokenStore: Sendable {
    private let database: AppDatabase
    private let cache = Mutex<[[UInt8]: (identity: TokenIdentity, fetchedAt: Millis)]>([:])
    private let cacheTTLMs: Millis = 5_000

    public init(database: AppDatabase) {
        self.database = database
    }

    /// What a presented token is.
    public enum Lookup: Sendable, Equatable {
        case valid(TokenIdentity)
        /// A token this collector issued and revoked.
        case revoked(tokenID: String)
        case unknown
    }

    /// Resolves a presented bearer token; nil when unknown or revoked.
    public func authenticate(_ token: String, now: Millis) throws -> TokenIdentity? {
        if case .valid(let identity) = try lookup(token, now: now) { return identity }
        return nil
    }

    /// Resolves a presented bearer token, telling a revoked one from an unknown one.
    public func lookup(_ token: String, now: Millis) throws -> Lookup {
        let hash = tokenHash(token)
        if let hit = cache.withLock({ $0[hash] }), now - hit.fetchedAt < cacheTTLMs {
            return .valid(hit.identity)
        }
        let row = try database.read { tx in try tx.tokens.byHash(hash) }
        guard let row, let kind = TokenKind(rawValue: row.kind) else {
            cache.withLock { _ = $0.removeValue(forKey: hash) }
            return .unknown
        }
        let stored: [UInt8] = Array(row.hash ?? Data())
        guard constantTimeEquals(stored, hash) else { return .unknown }
        if row.revokedAt != nil {
            cache.withLock { _ = $0.removeValue(forKey: hash) }
            return .revoked(tokenID: row.id)
        }
        let identity = TokenIdentity(
            tokenID: row.id, kind: kind, agentID: row.agentID, service: row.service, labels: TokenRow.labels(row.labels) ?? [:])
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }  // bounded: a flood of distinct tokens cannot grow it
            cache[hash] = (identity, now)
        }
        return .valid(identity)
    }

    /// Creates a token and returns its secret (shown once). `service` and `labels` are what the
    /// collector vouches for about the agents reporting with it (agent and fleet tokens).
    public func issue(
        kind: TokenKind, agentID: String?, name: String, now: Millis, service: String? = nil, labels: [String: String] = [:]
    ) throws -> IssuedToken {
        let secret = "gw_\(kind.rawValue)_" + randomToken(bytes: 32)
        let id = "tok_" + randomToken(bytes: 6)
        let hash = tokenHash(secret)
        let labelsJSON = labels.isEmpty ? nil : String(decoding: ReportCodec.encode(labels), as: UTF8.self)
        try database.write { tx in
            try tx.tokens.insert(
                id: id, kind: kind.rawValue, agentID: agentID, name: name, hash: hash, createdAt: now, service: service, labels: labelsJSON)
        }
        return IssuedToken(
            info: TokenInfo(
                id: id, kind: kind, agentID: agentID, service: service, labels: labels.isEmpty ? nil : labels, name: name, createdAt: now,
                revokedAt: nil),
            token: secret)
    }

    /// Revokes a token at once. Returns false when no such active token exists.
    public func revoke(id: String, now: Millis) throws -> Bool {
        let changed = try database.write { tx in try tx.tokens.revoke(id: id, at: now) }
        if changed {
            cache.withLock { cache in cache = cache.filter { $0.value.identity.tokenID != id } }
        }
        return changed
    }

    public func list() throws -> [TokenInfo] {
        try database.read { tx in
            try tx.tokens.all().map { row in
                TokenInfo(
                    id: row.id, kind: TokenKind(rawValue: row.kind) ?? .read, agentID: row.agentID, service: row.service,
                    labels: TokenRow.labels(row.labels), name: row.name ?? "", createdAt: row.createdAt ?? 0, revokedAt: row.revokedAt)
            }
        }
    }

    public func isEmpty() throws -> Bool {
        try database.read { tx in try tx.tokens.count() } == 0
    }
}

/// What the `tokens` table stores for a secret: its SHA-256. Tokens are 256-bit random values, so a
/// plain unsalted hash is the right tool: nothing to brute-force, and lookup by hash stays indexed.
func tokenHash(_ secret: String) -> [UInt8] {
    Array(SHA256.hash(data: Array(secret.utf8)))
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

/// `bytes` random bytes from the system CSPRNG (getrandom), base64url without padding.
func randomToken(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let raw = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var out: [UInt8] = []
    var i = 0
    while i < raw.count {
        let chunk = raw[i..<min(i + 3, raw.count)]
        let n = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
        let chars = chunk.count + 1
        for j in 0..<chars { out.append(alphabet[Int((n >> (18 - 6 * UInt32(j))) & 63)]) }
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}

// Here, not in Config/: the config's types stay below the tokens that authenticate agents.
extension OwnershipConfig {
    /// The binding of `agentID` reporting with `token`: the token's service and labels, with the
    /// config's definition of that agent id over them.
    public func binding(agentID: String, token: TokenIdentity?) -> AgentBinding {
        var binding = AgentBinding(service: token?.service, labels: token?.labels ?? [:])
        if let defined = agents[agentID] {
            binding.service = defined.service ?? binding.service
            binding.labels.merge(defined.labels) { $1 }
        }
        return binding
    }
}
