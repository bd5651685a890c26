import GRDB
import GapwatchProtocol

/// The `rejected_agents` table, inside the caller's transaction.
struct SQLiteRejectedAgentTable: RejectedAgentTable {
    let db: Database

    /// Adds each row's count to the stored one (saturating) and widens its first/last seen.
    func add(_ rows: [RejectedAgentRow]) throws {
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO rejected_agents (claimed_agent_id, token_id, source, reason, count, first_seen, last_seen)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (claimed_agent_id, token_id, source, reason) DO UPDATE SET
                    count = MIN(count + excluded.count, 9223372036854775807),
                    first_seen = MIN(first_seen, excluded.first_seen),
                    last_seen = MAX(last_seen, excluded.last_seen)
                """)
        for row in rows {
            try upsert.execute(arguments: [row.claimedAgentID, row.tokenID, row.source, row.reason, row.count, row.firstSeen, row.lastSeen])
        }
    }

    /// Keeps the `maxRows` most recently seen rows.
    func trim(keeping maxRows: Int) throws {
        try db.execute(
            sql: """
                DELETE FROM rejected_agents WHERE rowid IN
                    (SELECT rowid FROM rejected_agents ORDER BY last_seen DESC LIMIT -1 OFFSET ?)
                """, arguments: [maxRows])
    }

    /// The `limit` most recently seen rows.
    func recent(limit: Int) throws -> [RejectedAgentRow] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT claimed_agent_id, token_id, source, reason, count, first_seen, last_seen FROM rejected_agents
                ORDER BY last_seen DESC LIMIT ?
                """, arguments: [limit]
        ).map {
            RejectedAgentRow(
                claimedAgentID: $0["claimed_agent_id"], tokenID: $0["token_id"], source: $0["source"], reason: $0["reason"], count: $0["count"],
                firstSeen: $0["first_seen"], lastSeen: $0["last_seen"])
        }
    }
}
