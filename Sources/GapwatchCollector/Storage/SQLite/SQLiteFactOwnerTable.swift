import GRDB
import GapwatchProtocol

/// The `fact_owners` and `refused_claims` tables: who owns a fact (first reporter or an admin's
/// reassignment) and which agents were refused which facts. Inside the caller's transaction; the
/// ingest path's statements are cached.
struct SQLiteFactOwnerTable: FactOwnerTable {
    let db: Database

    /// The agent that owns `fact`; nil when nobody does yet.
    func owner(of fact: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT agent_id FROM fact_owners WHERE fact = ?"), arguments: [fact])
    }

    /// Records `agentID` as the owner of `fact` unless someone already owns it.
    func claim(_ fact: String, by agentID: String, at now: Millis) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO fact_owners (fact, agent_id, since) VALUES (?, ?, ?)").execute(arguments: [
            fact, agentID, now,
        ])
    }

    /// An admin makes `agentID` the owner of `fact`.
    func assign(_ fact: String, to agentID: String, by tokenID: String, at now: Millis) throws {
        try db.execute(
            sql: """
                INSERT INTO fact_owners (fact, agent_id, since, assigned_by) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT (fact) DO UPDATE SET agent_id = ?2, since = ?3, assigned_by = ?4
                """, arguments: [fact, agentID, now, tokenID])
    }

    /// Counts a refusal of `fact` to `agentID`: the agent's first `maxFactsPerAgent` refused facts
    /// keep a row each, later ones are not recorded here.
    func tallyRefusal(agentID: String, fact: String, entitled: String, seq: Int64, at now: Millis, maxFactsPerAgent: Int) throws {
        try db.cachedStatement(
            sql: """
                UPDATE refused_claims SET count = count + 1, owner = ?3, last_at = MAX(last_at, ?4), last_seq = ?5
                WHERE agent_id = ?1 AND fact = ?2
                """
        ).execute(arguments: [agentID, fact, entitled, now, seq])
        guard db.changesCount == 0 else { return }
        try db.cachedStatement(
            sql: """
                INSERT INTO refused_claims (agent_id, fact, owner, count, first_at, last_at, last_seq)
                SELECT ?1, ?2, ?3, 1, ?4, ?4, ?5 WHERE (SELECT COUNT(*) FROM refused_claims WHERE agent_id = ?1) < ?6
                """
        ).execute(arguments: [agentID, fact, entitled, now, seq, maxFactsPerAgent])
    }

    /// Owned facts matching the glob `fact` (all when nil) of `agentID` (any when nil), by fact.
    func owners(matching fact: String?, agentID: String?, limit: Int) throws -> [FactOwnerInfo] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM fact_owners WHERE (?1 IS NULL OR fact GLOB ?1) AND (?2 IS NULL OR agent_id = ?2)
                ORDER BY fact LIMIT ?3
                """, arguments: [fact, agentID, limit]
        ).map { FactOwnerInfo(fact: $0["fact"], agentID: $0["agent_id"], since: $0["since"], assignedBy: $0["assigned_by"]) }
    }

    /// Refused claims matching the glob `fact` of `agentID`, most recent first.
    func refused(matching fact: String?, agentID: String?, limit: Int) throws -> [RefusedClaimInfo] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM refused_claims WHERE (?1 IS NULL OR fact GLOB ?1) AND (?2 IS NULL OR agent_id = ?2)
                ORDER BY last_at DESC, agent_id, fact LIMIT ?3
                """, arguments: [fact, agentID, limit]
        ).map {
            RefusedClaimInfo(
                agentID: $0["agent_id"], fact: $0["fact"], entitled: $0["owner"], count: $0["count"], firstAt: $0["first_at"],
                lastAt: $0["last_at"], lastSeq: $0["last_seq"])
        }
    }
}
