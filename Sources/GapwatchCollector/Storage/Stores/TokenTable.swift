import Foundation
import GapwatchProtocol

/// The `tokens` table (hashes only; the secrets are never stored).
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol TokenTable {
    /// The token whose secret hashes to `hash`, revoked or not.
    func byHash(_ hash: [UInt8]) throws -> TokenRow?

    func insert(id: String, kind: String, agentID: String?, name: String, hash: [UInt8], createdAt: Millis, service: String?, labels: String?) throws

    /// Revokes an active token; false when there is no such active token.
    func revoke(id: String, at now: Millis) throws -> Bool

    /// Every token, oldest first, without its hash.
    func all() throws -> [TokenRow]

    func count() throws -> Int
}

extension TokenRow {
    /// A token's labels column (JSON), nil when none.
    static func labels(_ json: String?) -> [String: String]? {
        guard let json else { return nil }
        return try? ReportCodec.decode([String: String].self, from: Array(json.utf8))
    }
}

/// One row of the `tokens` table; `hash` is read only by the lookup (never by the listing).
struct TokenRow {
    var id: String
    var kind: String
    var agentID: String?
    var service: String?
    /// JSON object of the labels the token vouches for; nil when none.
    var labels: String?
    var name: String?
    var createdAt: Millis?
    var revokedAt: Millis?
    var hash: Data?

}
