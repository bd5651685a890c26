import Foundation
import GRDB
import GapwatchProtocol

extension TokenRow {
    init(row: Row) {
        id = row["id"]
        kind = row["kind"]
        agentID = row["agent_id"]
        service = row["service"]
        labels = row["labels"]
        name = row["name"]
        createdAt = row["created_at"]
        revokedAt = row["revoked_at"]
        hash = row["hash"]
    }
}

/// The `tokens` table: API and agent credentials, stored as the SHA-256 of their secrets.
struct SQLiteTokenTable: TokenTable {
    let db: Database

    /// The token whose secret hashes to `hash`, revoked or not.
    func byHash(_ hash: [UInt8]) throws -> TokenRow? {
        try Row.fetchOne(db, sql: "SELECT id, kind, agent_id, service, labels, hash, revoked_at FROM tokens WHERE hash = ?", arguments: [Data(hash)])
            .map(TokenRow.init(row:))
    }

    func insert(id: String, kind: String, agentID: String?, name: String, hash: [UInt8], createdAt: Millis, service: String?, labels: String?) throws
    {
        try db.execute(
            sql: "INSERT INTO tokens (id, kind, agent_id, name, hash, created_at, service, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [id, kind, agentID, name, Data(hash), createdAt, service, labels])
    }

    /// Revokes an active token; false when there is no such active token.
    func revoke(id: String, at now: Millis) throws -> Bool {
        try db.execute(sql: "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now, id])
        return db.changesCount > 0
    }

    /// Every token, oldest first, without its hash.
    func all() throws -> [TokenRow] {
        try Row.fetchAll(db, sql: "SELECT id, kind, agent_id, service, labels, name, created_at, revoked_at FROM tokens ORDER BY created_at, id")
            .map(TokenRow.init(row:))
    }

    func count() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tokens") ?? 0
    }
}
