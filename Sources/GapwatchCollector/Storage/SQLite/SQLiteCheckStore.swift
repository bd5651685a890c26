import GRDB
import GapwatchProtocol
import GapwatchRules

extension CheckRecord {
    init(row: Row) {
        id = row["id"]
        name = row["name"]
        kind = row["kind"]
        storedState = row["state"]
        reason = row["reason"]
        createdAt = row["created_at"]
        changedAt = row["changed_at"]
        lastPingAt = row["last_ping_at"]
        lastStartAt = row["last_start_at"]
        lastFailAt = row["last_fail_at"]
        lastFailReason = row["last_fail_reason"]
        lastDurationMs = row["last_duration_ms"]
        feederAgentID = row["feeder_agent_id"]
        nextDue = row["next_due"]
        judgedThrough = row["judged_through"]
        failStreak = row["fail_streak"]
    }
}

/// The only owner of the `checks` table: config sync, evaluation, pause/resume and the ingest
/// writer's pings all change a check through these methods, inside the caller's transaction.
/// Statements are cached: the ingest path calls `markDue` and the ping methods per observation.
struct SQLiteCheckStore: CheckStore {
    let db: Database

    // MARK: - Lookup

    /// Every check, for listings.
    func all() throws -> [CheckRecord] { try Row.fetchAll(db, sql: "SELECT * FROM checks ORDER BY kind, name").map(CheckRecord.init(row:)) }

    /// The check named `name`, if any.
    func find(name: String) throws -> (id: Int64, kind: String, state: CheckState?)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT id, kind, state FROM checks WHERE name = ?"), arguments: [name]).map {
            ($0["id"], $0["kind"], CheckState(rawValue: $0["state"]))
        }
    }

    func id(named name: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM checks WHERE name = ?"), arguments: [name])
    }

    /// The checks of these kinds.
    func existing(kinds: [String]) throws -> [(id: Int64, name: String, kind: String)] {
        let marks = kinds.map { _ in "?" }.joined(separator: ", ")
        return try Row.fetchAll(db, sql: "SELECT id, name, kind FROM checks WHERE kind IN (\(marks))", arguments: StatementArguments(kinds)).map {
            ($0["id"], $0["name"], $0["kind"])
        }
    }

    func names(kind: String) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM checks WHERE kind = ?", arguments: [kind])
    }

    /// When the check was made (or last resumed).
    func createdAt(name: String, kind: String) throws -> Millis? {
        try Millis.fetchOne(db, sql: "SELECT created_at FROM checks WHERE name = ? AND kind = ?", arguments: [name, kind])
    }

    /// How many checks are in each state.
    func countByState() throws -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM checks GROUP BY state").map {
                ($0[0] as String, $0[1] as Int)
            })
    }

    /// A liveness check's state and last ping.
    func liveness(name: String) throws -> (state: CheckState?, lastPingAt: Millis?)? {
        try Row.fetchOne(db, sql: "SELECT state, last_ping_at FROM checks WHERE name = ? AND kind = 'liveness'", arguments: [name]).map {
            (CheckState(rawValue: $0["state"]), $0["last_ping_at"])
        }
    }

    /// The checks due at `now`, earliest first.
    func due(now: Millis, limit: Int) throws -> [CheckRecord] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM checks WHERE next_due <= ? ORDER BY next_due LIMIT ?"), arguments: [now, limit])
            .map(CheckRecord.init(row:))
    }

    /// The earliest next_due, for the evaluation loop's sleep.
    func earliestDue() throws -> Millis? {
        try Millis.fetchOne(db, sql: "SELECT MIN(next_due) FROM checks WHERE next_due IS NOT NULL")
    }

    // MARK: - Life cycle

    /// A check made from the config, due now.
    func create(name: String, kind: String, judgedThrough: Millis?, now: Millis) throws -> Int64 {
        try db.cachedStatement(
            sql: """
                INSERT INTO checks (name, kind, state, created_at, changed_at, reason, next_due, judged_through)
                VALUES (?, ?, \(CheckState.new.sqlLiteral), ?, ?, 'created from the config', ?, ?)
                """
        ).execute(arguments: [name, kind, now, now, now, judgedThrough])
        return db.lastInsertedRowID
    }

    /// A check the collector makes itself on first sight (no-op when it exists); returns its id.
    func createAutomatic(name: String, kind: String, reason: String, now: Millis) throws -> Int64? {
        try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO checks (name, kind, state, created_at, changed_at, reason, next_due)
                VALUES (?, ?, \(CheckState.new.sqlLiteral), ?, ?, ?, ?)
                """
        ).execute(arguments: [name, kind, now, now, reason, now])
        return try id(named: name)
    }

    func delete(id: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM checks WHERE id = ?").execute(arguments: [id])
    }

    func deleteAll(kind: String) throws {
        try db.execute(sql: "DELETE FROM checks WHERE kind = ?", arguments: [kind])
    }

    /// Pauses: no evaluation until resumed.
    func pause(id: Int64, now: Millis) throws {
        try db.execute(
            sql: "UPDATE checks SET state = \(CheckState.paused.sqlLiteral), reason = 'paused', next_due = NULL, changed_at = ? WHERE id = ?",
            arguments: [now, id])
    }

    /// Resumes as `new`, due now, its history of pings and failures forgotten; `judgesFromNow`:
    /// it judges from now on (its kind's `judgesFromCreation`), else judged_through is cleared.
    func resume(id: Int64, judgesFromNow: Bool, now: Millis) throws {
        try db.execute(
            sql: """
                UPDATE checks SET state = \(CheckState.new.sqlLiteral), reason = 'resumed', created_at = ?, changed_at = ?, last_ping_at = NULL,
                    last_fail_at = NULL, last_fail_reason = NULL, next_due = ?, judged_through = ?
                WHERE id = ?
                """, arguments: [now, now, now, judgesFromNow ? now : nil, id])
    }

    // MARK: - Due times

    /// Makes the check due now unless paused.
    func markDue(id: Int64, now: Millis) throws {
        try db.cachedStatement(sql: Self.markDueSQL).execute(arguments: [now, id])
    }

    /// Built once: the ingest path runs it per observation.
    private static let markDueSQL = "UPDATE checks SET next_due = ? WHERE id = ? AND state != \(CheckState.paused.sqlLiteral)"

    /// Makes every unpaused check of these kinds due now; returns how many.
    @discardableResult
    func markDue(kinds: [String], now: Millis) throws -> Int {
        let marks = kinds.map { _ in "?" }.joined(separator: ", ")
        try db.execute(
            sql: "UPDATE checks SET next_due = ? WHERE kind IN (\(marks)) AND state != \(CheckState.paused.sqlLiteral)",
            arguments: StatementArguments([now as any DatabaseValueConvertible] + kinds.map { $0 as any DatabaseValueConvertible }))
        return db.changesCount
    }

    /// Not to be evaluated again until something makes it due.
    func clearDue(id: Int64) throws {
        try db.cachedStatement(sql: "UPDATE checks SET next_due = NULL WHERE id = ?").execute(arguments: [id])
    }

    /// Applies a judgement: state (changed_at moves only when it differs), reason, next due
    /// time; detail and judged_through only when given.
    func applyJudgement(id: Int64, state: CheckState, reason: String, nextDue: Millis?, detail: String?, judgedThrough: Millis?, now: Millis) throws {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET changed_at = CASE WHEN state != ?1 THEN ?2 ELSE changed_at END, state = ?1, reason = ?3, next_due = ?4,
                    detail = COALESCE(?5, detail), judged_through = COALESCE(?6, judged_through)
                WHERE id = ?7
                """
        ).execute(arguments: [state.rawValue, now, reason, nextDue, detail, judgedThrough, id])
    }

    // MARK: - Pings (the ingest hot path)

    /// A sign of life for an agent's liveness check: moves last_ping_at; a new or down check is
    /// judged now, an up one at its deadline.
    func recordLiveness(id: Int64, observedAt: Millis, feederAgent: String, now: Millis) throws {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), feeder_agent_id = ?2,
                    next_due = CASE WHEN state IN (\(Self.newOrDown)) THEN ?3 ELSE next_due END
                WHERE id = ?4
                """
        ).execute(arguments: [observedAt, feederAgent, now, id])
    }

    /// A failed probe run lengthens the streak and makes the check due. Returns whether the
    /// check still exists.
    func recordProbeFailure(id: Int64, reason: String, observedAt: Millis, feederAgent: String, now: Millis) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET fail_streak = fail_streak + 1, last_fail_reason = ?1,
                    last_fail_at = MAX(COALESCE(last_fail_at, ?2), ?2), feeder_agent_id = ?3,
                    next_due = CASE WHEN state != \(CheckState.paused.sqlLiteral) THEN ?4 ELSE next_due END
                WHERE id = ?5
                """
        ).execute(arguments: [reason, observedAt, feederAgent, now, id])
        return db.changesCount > 0
    }

    /// A good probe run ends the streak. Returns whether the check still exists.
    func recordProbeSuccess(id: Int64, observedAt: Millis, feederAgent: String, now: Millis) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET fail_streak = 0, last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), feeder_agent_id = ?2,
                    next_due = CASE WHEN state IN (\(Self.newOrDown)) THEN ?3 ELSE next_due END
                WHERE id = ?4
                """
        ).execute(arguments: [observedAt, feederAgent, now, id])
        return db.changesCount > 0
    }

    /// States in which a sign of life makes a check due at once (otherwise at its deadline).
    private static let newOrDown = CheckState.sqlList([.new, .down])

    /// A heartbeat check's feeder: the one agent feeding it, or `*` once several do.
    private static let feeder = "feeder_agent_id = CASE WHEN feeder_agent_id IS NULL OR feeder_agent_id = ?2 THEN ?2 ELSE '*' END"

    /// A fail ping (or non-zero exit): down at the next pass, the latest failure's reason kept.
    func recordFailPing(id: Int64, reason: String, observedAt: Millis, feederAgent: String, now: Millis) throws {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET last_fail_reason = CASE WHEN ?1 >= COALESCE(last_fail_at, ?1) THEN ?4 ELSE last_fail_reason END,
                    last_fail_at = MAX(COALESCE(last_fail_at, ?1), ?1), \(Self.feeder),
                    next_due = CASE WHEN state = \(CheckState.paused.sqlLiteral) THEN next_due ELSE ?3 END
                WHERE id = ?5
                """
        ).execute(arguments: [observedAt, feederAgent, now, reason, id])
    }

    /// A start ping: the beginning of a run, to measure its duration.
    func recordStartPing(id: Int64, observedAt: Millis, feederAgent: String) throws {
        try db.cachedStatement(
            sql: "UPDATE checks SET last_start_at = MAX(COALESCE(last_start_at, ?1), ?1), \(Self.feeder) WHERE id = ?3"
        ).execute(arguments: [observedAt, feederAgent, id])
    }

    /// An ok ping: moves last_ping_at and measures the run (reported duration, else from its start).
    func recordPing(id: Int64, observedAt: Millis, durationMs: Millis?, feederAgent: String, now: Millis) throws {
        try db.cachedStatement(
            sql: """
                UPDATE checks SET
                    last_duration_ms = CASE WHEN ?1 > COALESCE(last_ping_at, ?1 - 1)
                        THEN COALESCE(?4, CASE WHEN last_start_at <= ?1 THEN ?1 - last_start_at END) ELSE last_duration_ms END,
                    last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), \(Self.feeder),
                    next_due = CASE WHEN state IN (\(Self.newOrDown)) THEN ?3 ELSE next_due END
                WHERE id = ?5
                """
        ).execute(arguments: [observedAt, feederAgent, now, durationMs, id])
    }
}
