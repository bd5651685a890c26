import GRDB
import GapwatchProtocol

/// The `agents` table, inside the caller's transaction. The ingest path's statements are cached:
/// it runs them for every report.
struct SQLiteAgentTable: AgentTable {
    let db: Database

    /// The service the agent last reported; nil for an unknown agent.
    func service(of agentID: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT service FROM agents WHERE id = ?"), arguments: [agentID])
    }

    /// The agent's service and its clock's offset from the collector's; nil for an unknown agent.
    func clock(of agentID: String) throws -> (service: String?, skewMs: Millis)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT service, clock_skew_ms FROM agents WHERE id = ?"), arguments: [agentID]).map {
            ($0["service"], $0["clock_skew_ms"])
        }
    }

    /// The service and labels (JSON) its token binds the agent to; nil for an unknown agent.
    func binding(of agentID: String) throws -> (service: String?, labels: String?)? {
        try Row.fetchOne(db, sql: "SELECT bound_service, bound_labels FROM agents WHERE id = ?", arguments: [agentID]).map {
            ($0["bound_service"], $0["bound_labels"])
        }
    }

    /// Every agent but the collector's own, by id, with the state of its liveness check (nil: none).
    func withLiveness() throws -> [(id: String, service: String, lastSeen: Millis, livenessState: String?)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT a.id, a.service, a.last_seen, c.state FROM agents a LEFT JOIN checks c ON c.name = 'agent:' || a.id AND c.kind = 'liveness'
                WHERE a.id != '@collector' ORDER BY a.id
                """
        ).map { ($0["id"], $0["service"], $0["last_seen"], $0["state"]) }
    }

    // MARK: Ingest

    /// Whether an agent with this id has reported before.
    func isKnown(_ agentID: String) throws -> Bool {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM agents WHERE id = ?"), arguments: [agentID]) != nil
    }

    /// A report from an agent whose identity is unchanged: only the liveness columns move.
    func touch(_ agentID: String, seenAt: Millis, clockSkewMs: Millis) throws {
        try db.cachedStatement(sql: "UPDATE agents SET last_seen = MAX(last_seen, ?), clock_skew_ms = ? WHERE id = ?")
            .execute(arguments: [seenAt, clockSkewMs, agentID])
    }

    /// Records the agent's identity as its report states it (and what its token binds it to).
    func upsert(
        _ agent: AgentIdentity, labels: String, bootID: String?, seenAt: Millis, clockSkewMs: Millis, boundService: String?, boundLabels: String?
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO agents (id, service, host, version, labels, boot_id, first_seen, last_seen, clock_skew_ms, bound_service, bound_labels)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET service = excluded.service, host = excluded.host,
                    version = excluded.version, labels = excluded.labels, boot_id = excluded.boot_id,
                    last_seen = MAX(last_seen, excluded.last_seen), clock_skew_ms = excluded.clock_skew_ms,
                    bound_service = excluded.bound_service, bound_labels = excluded.bound_labels
                """
        ).execute(arguments: [
            agent.id, agent.service, agent.host, agent.version, labels, bootID, seenAt, seenAt, clockSkewMs, boundService, boundLabels,
        ])
    }

    /// Counts observations refused because the agent does not own their fact.
    func addRefused(_ agentID: String, _ count: Int) throws {
        try db.cachedStatement(sql: "UPDATE agents SET refused = refused + ? WHERE id = ?").execute(arguments: [count, agentID])
    }

    /// Counts observations whose time was corrected for, or refused by, the agent's clock.
    func addClockCounts(_ agentID: String, corrected: Int, refused: Int) throws {
        try db.cachedStatement(sql: "UPDATE agents SET clock_corrected = clock_corrected + ?, clock_refused = clock_refused + ? WHERE id = ?")
            .execute(arguments: [corrected, refused, agentID])
    }

    /// How many agents token `tokenID` brought after `since`.
    func broughtCount(byToken tokenID: String, after since: Millis) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(sql: "SELECT COUNT(*) FROM agents WHERE created_by_token = ? AND first_seen > ?"), arguments: [tokenID, since]) ?? 0
    }

    /// When the `offset`-th (from 0, oldest first) agent token `tokenID` brought after `since` first reported.
    func broughtFirstSeen(byToken tokenID: String, after since: Millis, offset: Int) throws -> Millis? {
        try Millis.fetchOne(
            db.cachedStatement(
                sql: "SELECT first_seen FROM agents WHERE created_by_token = ? AND first_seen > ? ORDER BY first_seen LIMIT 1 OFFSET ?"),
            arguments: [tokenID, since, offset])
    }

    /// Notes the fleet token that brought a new agent id.
    func recordBringer(_ agentID: String, tokenID: String) throws {
        try db.cachedStatement(sql: "UPDATE agents SET created_by_token = ? WHERE id = ?").execute(arguments: [tokenID, agentID])
    }

    /// The stream the agent's commands go to, with its spool and when it last reported; nil for
    /// an unknown agent, nil fields when it has no bound stream.
    func boundStream(of agentID: String) throws -> (id: Int64?, spoolID: String?, lastSeen: Millis?)? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT a.bound_stream_id, s.spool_id, s.last_seen FROM agents a LEFT JOIN streams s ON s.id = a.bound_stream_id WHERE a.id = ?"),
            arguments: [agentID]
        ).map { ($0["bound_stream_id"], $0["spool_id"], $0["last_seen"]) }
    }

    /// The agent's commands go to `streamID` from now on.
    func bindCommands(_ agentID: String, to streamID: Int64) throws {
        try db.cachedStatement(sql: "UPDATE agents SET bound_stream_id = ? WHERE id = ?").execute(arguments: [streamID, agentID])
    }
}

/// The `streams` and `stream_seq_runs` tables: each agent's spools and which seqs of them are
/// stored. Inside the caller's transaction; statements cached (the ingest path runs them per report).
struct SQLiteStreamTable: StreamTable {
    let db: Database

    func id(agentID: String, spoolID: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM streams WHERE agent_id = ? AND spool_id = ?"), arguments: [agentID, spoolID])
    }

    /// A new stream; returns its id.
    func insert(agentID: String, spoolID: String, previousSpoolID: String?, at now: Millis) throws -> Int64 {
        try db.cachedStatement(
            sql: "INSERT INTO streams (agent_id, spool_id, last_seq, first_seen, last_seen, previous_spool_id) VALUES (?, ?, 0, ?, ?, ?)"
        ).execute(arguments: [agentID, spoolID, now, now, previousSpoolID])
        return db.lastInsertedRowID
    }

    /// Raises the stream's last stored seq to `seq` (never lowers it); returns the stored value.
    func advance(_ streamID: Int64, toSeq seq: Int64, seenAt: Millis) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(sql: "UPDATE streams SET last_seq = MAX(last_seq, ?), last_seen = ? WHERE id = ? RETURNING last_seq"),
            arguments: [seq, seenAt, streamID]) ?? 0
    }

    /// The agent's count of records its spool dropped (running totals: the highest counts).
    func recordDropped(_ streamID: Int64, overflow: Int64, corrupt: Int64) throws {
        try db.cachedStatement(
            sql: """
                UPDATE streams SET dropped_overflow = MAX(dropped_overflow, ?), dropped_corrupt = MAX(dropped_corrupt, ?)
                WHERE id = ?
                """
        ).execute(arguments: [overflow, corrupt, streamID])
    }

    /// The agent's 100 most recently seen streams, newest first; `bound` marks the one its commands go to.
    func streams(of agentID: String, bound boundID: Int64?) throws -> [AgentStreamInfo] {
        try Row.fetchAll(db, sql: "SELECT * FROM streams WHERE agent_id = ? ORDER BY last_seen DESC, id DESC LIMIT 100", arguments: [agentID]).map {
            row in
            let id: Int64 = row["id"]
            return AgentStreamInfo(
                stream: id, spoolPrefix: String((row["spool_id"] as String).prefix(8)),
                previousSpoolPrefix: (row["previous_spool_id"] as String?).map { String($0.prefix(8)) },
                firstSeen: row["first_seen"], lastSeen: row["last_seen"], lastSeq: row["last_seq"], bound: id == boundID)
        }
    }

    /// `streamID` if it is one of the agent's streams.
    func id(_ streamID: Int64, ofAgent agentID: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM streams WHERE id = ? AND agent_id = ?", arguments: [streamID, agentID])
    }

    /// The agent's most recently seen stream.
    func latest(ofAgent agentID: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM streams WHERE agent_id = ? ORDER BY last_seen DESC, id DESC LIMIT 1", arguments: [agentID])
    }

    /// The stream's highest run of stored seqs.
    func lastRun(_ streamID: Int64) throws -> (from: Int64, to: Int64)? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT from_seq, to_seq FROM stream_seq_runs WHERE stream_id = ? ORDER BY from_seq DESC LIMIT 1"),
            arguments: [streamID]
        ).map { ($0["from_seq"], $0["to_seq"]) }
    }

    /// The end of the run that starts at or below `seq`.
    func runEnd(_ streamID: Int64, startingAtOrBelow seq: Int64) throws -> Int64? {
        try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT to_seq FROM stream_seq_runs WHERE stream_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1"),
            arguments: [streamID, seq])
    }

    func saveRun(_ streamID: Int64, from: Int64, to: Int64) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO stream_seq_runs (stream_id, from_seq, to_seq) VALUES (?, ?, ?)
                ON CONFLICT (stream_id, from_seq) DO UPDATE SET to_seq = excluded.to_seq
                """
        ).execute(arguments: [streamID, from, to])
    }
}
