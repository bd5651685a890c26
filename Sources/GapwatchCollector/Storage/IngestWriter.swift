import GRDB
import GRDBSQLite
import GapwatchProtocol
import Logging

/// What storing one report did.
public struct IngestResult: Sendable, Equatable {
    /// Highest seq of the report's spool now durably stored.
    public var ackedSeq: UInt64
    public var stored: Int
    public var duplicates: Int
    /// Commands waiting for this agent, handed to it in the response (same transaction).
    public var commands: [AgentCommand] = []
    /// received_at - observed_at of each stored observation (ms), for the ingest lag histogram.
    var storedLagsMs: [Millis] = []
    /// Observations acknowledged but not stored, one by one (facts another agent owns).
    public internal(set) var refused: [RefusedObservation] = []
}

/// The collector's single writer. Reports that arrive while a transaction is being written wait
/// and are committed together in the next one (group commit), so one fsync serves many requests.
/// A caller's `ingest` returns only after its report's transaction committed.
public actor IngestWriter {
    private let database: AppDatabase
    private let logger: Logger
    private var pending: [Pending] = []
    private var flushing = false
    /// What is known to be committed. Only replaced after a commit, so a rolled-back row never lingers.
    private var cache = WriterCache()
    /// Committed transactions and the reports in them (for benchmarks and metrics).
    public private(set) var transactions = 0
    public private(set) var committedReports = 0
    /// Which checks observations feed; set by the detector once the config is synced.
    private var routing = CheckRouting()
    /// Who may report which facts, and what the config vouches for about agents.
    private let ownership: OwnershipConfig
    private let metrics: CollectorMetrics?

    func setRouting(_ routing: CheckRouting) { self.routing = routing }

    private struct Pending {
        var report: Report
        var receivedAt: Millis
        var token: TokenIdentity?
        var continuation: CheckedContinuation<IngestResult, any Error>
    }

    public init(database: AppDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
        self.metrics = nil
        self.ownership = OwnershipConfig()
    }

    init(database: AppDatabase, logger: Logger, routing: CheckRouting, ownership: OwnershipConfig = OwnershipConfig(), metrics: CollectorMetrics? = nil) {
        self.database = database
        self.logger = logger
        self.routing = routing
        self.ownership = ownership
        self.metrics = metrics
    }

    /// Stores `report` (deduplicating by agent, spool and seq) and returns once it is committed.
    /// `token`: the token it came with, whose bound service and labels the agent is judged by.
    public func ingest(_ report: Report, receivedAt: Millis, token: TokenIdentity? = nil) async throws -> IngestResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(report: report, receivedAt: receivedAt, token: token, continuation: continuation))
            if !flushing {
                flushing = true
                Task { await self.flushPending() }
            }
        }
    }

    private func flushPending() async {
        while !pending.isEmpty {
            let group = pending
            pending = []
            let items = group.map { ($0.report, $0.receivedAt, $0.token) }
            let known = cache
            let routing = self.routing
            let ownership = self.ownership
            do {
                let outcome = try await database.pool.write { db in
                    var batch = BatchWriter(db: db, cache: known, routing: routing, ownership: ownership)
                    var results: [IngestResult] = []
                    results.reserveCapacity(items.count)
                    for (report, receivedAt, token) in items {
                        results.append(try batch.store(report, receivedAt: receivedAt, token: token))
                    }
                    return (results, batch.cache)
                }
                cache = outcome.1
                transactions += 1
                committedReports += group.count
                if let metrics {
                    for (item, result) in zip(group, outcome.0) {
                        metrics.ingestCommitted(result)
                        metrics.refused(result.refused, of: item.report)
                    }
                }
                for (item, result) in zip(group, outcome.0) { item.continuation.resume(returning: result) }
            } catch {
                logger.error("ingest transaction failed", metadata: ["error": "\(error)", "reports": "\(group.count)"])
                for item in group { item.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}

/// Ids and agent identities already in the database, so the hot path skips lookups and rewrites.
struct WriterCache: Sendable {
    var subjectIDs: [String: Int64] = [:]
    var streamIDs: [StreamKey: Int64] = [:]
    /// The identity and boot id last written for each agent.
    var agents: [String: AgentSnapshot] = [:]
    /// `agent:ID` and `probe:AGENT/NAME` → the id of that liveness or probe check.
    var automaticCheckIDs: [String: Int64] = [:]
    /// Stream id → its last seq run (the one ending at the highest stored seq); nil: none yet.
    var lastRuns: [Int64: SeqRun?] = [:]
}

/// Seqs `from...to` of one stream are all stored (see `stream_seq_runs`).
struct SeqRun: Equatable, Sendable {
    var from: Int64
    var to: Int64
}

struct AgentSnapshot: Equatable, Sendable {
    var identity: AgentIdentity
    var bootID: String
    var binding: AgentBinding
}

struct StreamKey: Hashable, Sendable {
    var agentID: String
    var spoolID: String
}

/// Writes reports inside one open transaction.
private struct BatchWriter {
    let db: Database
    var cache: WriterCache
    let routing: CheckRouting
    let ownership: OwnershipConfig
    /// Fact → owner (nil: none), looked up once per transaction: a reassignment commits between
    /// transactions, so this never outlives what it read.
    var owners: [String: String?] = [:]

    init(db: Database, cache: WriterCache, routing: CheckRouting, ownership: OwnershipConfig) {
        self.db = db
        self.cache = cache
        self.routing = routing
        self.ownership = ownership
    }

    mutating func store(_ report: Report, receivedAt: Millis, token: TokenIdentity?) throws -> IngestResult {
        let agent = report.agent
        let binding = ownership.binding(agentID: agent.id, token: token)
        let snapshot = AgentSnapshot(identity: agent, bootID: report.bootID, binding: binding)
        if cache.agents[agent.id] == snapshot {
            // Same identity as last time: only the liveness columns change (no label JSON to encode).
            try db.cachedStatement(
                sql: "UPDATE agents SET last_seen = MAX(last_seen, ?), clock_skew_ms = ? WHERE id = ?"
            ).execute(arguments: [receivedAt, receivedAt - report.sentAt, agent.id])
        } else {
            try upsertAgent(report, binding: binding, receivedAt: receivedAt)
            cache.agents[agent.id] = snapshot
        }
        let streamID = try stream(StreamKey(agentID: agent.id, spoolID: report.spoolID), at: receivedAt)

        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO observations
                    (stream_id, seq, observed_at, received_lag, kind, subject_id, status, part, num, code, at1, at2, text, target)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        // Seqs above the last run are new (the usual case: the next records of the spool) and
        // extend it in memory; one at or below it is new only if it falls in no stored run.
        var run = try lastRun(streamID)
        var runChanged = false
        var stored = 0
        var maxSeq: UInt64 = 0
        var maxObservedAt: Millis = .min
        var dropped: DroppedRecords?
        var lags: [Millis] = []
        var refused: [RefusedObservation] = []
        for observation in report.observations {
            let body = observation.body
            maxObservedAt = max(maxObservedAt, observation.observedAt)
            if let refusal = try ownershipRefusal(observation, in: report, binding: binding, now: receivedAt) {
                // Not stored and no effect; its seq is taken, so the ack covers it and a resend is a duplicate.
                maxSeq = max(maxSeq, observation.seq)
                guard try takeSeq(Int64(observation.seq), streamID: streamID, run: &run, runChanged: &runChanged) else { continue }
                try tallyRefusal(refusal, agentID: agent.id, now: receivedAt)
                refused.append(refusal.observation)
                continue
            }
            switch body {
            case .heartbeat(let ping):
                if let targets = routing.pings[ping.name] {
                    for target in targets where target.accepts(binding) {
                        try recordPing(ping, observedAt: observation.observedAt, checkID: target.checkID, agentID: agent.id, now: receivedAt)
                    }
                }
                if ping.probe == true && routing.probeFailuresAfter > 0 {
                    try recordProbeRun(ping, observedAt: observation.observedAt, agentID: agent.id, now: receivedAt)
                }
            case .decision(let decision) where decision.decision == .run:
                try markDue(routing.workflows[decision.workflow], now: receivedAt)
            case .count(let count):
                try markDue(routing.datasets[count.dataset], now: receivedAt)
            case .itemStatus(let item):
                try markDue(routing.itemKinds[item.itemKind], now: receivedAt)
            case .job(let job):
                try SchedulerFacts(db: db).record(job, agentID: agent.id, observedAt: observation.observedAt)
                try markDue(routing.jobTargets.map { [$0] }, now: receivedAt)
            case .probe(let probe) where probe.job != nil:
                // Re-judge only when a target's health crosses a threshold, not on every probe.
                if let counts = try SchedulerFacts(db: db).record(probe, observedAt: observation.observedAt),
                    counts.failures == routing.jobFailures || counts.successes == 1 || counts.successes == routing.jobReenableAfter
                {
                    try markDue(routing.jobTargets.map { [$0] }, now: receivedAt)
                }
            case .lock(let lock):
                try SchedulerFacts(db: db).record(lock, agentID: agent.id, observedAt: observation.observedAt)
                try markDue(routing.locks, now: receivedAt)
            case .actionResult(let result):
                // The outcome of a command this collector handed to the agent; the action runner
                // takes it from here.
                try db.cachedStatement(
                    sql: """
                        UPDATE actions SET result_outcome = ?, result_detail = ?
                        WHERE id = ? AND kind = 'agent' AND state = 'running' AND result_outcome IS NULL
                        """
                ).execute(arguments: [
                    result.outcome.rawValue,
                    [result.exitCode.map { "exit code \($0)" }, result.outputTail].compactMap { $0 }.joined(separator: ": "), result.actionID,
                ])
            default: break
            }
            maxSeq = max(maxSeq, observation.seq)
            let seq = Int64(observation.seq)
            guard try takeSeq(seq, streamID: streamID, run: &run, runChanged: &runChanged) else { continue }
            let subjectID = try subject(body.subject(agentID: agent.id))
            // Bound with the C API: GRDB's StatementArguments boxing cost a third of ingest's time.
            let c = body.columns
            let s = insert.sqliteStatement
            sqlite3_reset(s)
            sqlite3_bind_int64(s, 1, streamID)
            sqlite3_bind_int64(s, 2, seq)
            sqlite3_bind_int64(s, 3, observation.observedAt)
            sqlite3_bind_int64(s, 4, receivedAt - observation.observedAt)
            sqlite3_bind_int64(s, 5, Int64(body.kind.storageCode))
            sqlite3_bind_int64(s, 6, subjectID)
            bind(s, 7, c.status)
            bind(s, 8, c.part)
            bind(s, 9, c.num)
            bind(s, 10, c.code)
            bind(s, 11, c.at1)
            bind(s, 12, c.at2)
            bind(s, 13, c.text)
            bind(s, 14, c.target)
            let rc = sqlite3_step(s)
            guard rc == SQLITE_DONE else {
                let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                sqlite3_reset(s)
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message)
            }
            if sqlite3_changes(db.sqliteConnection) > 0 {
                stored += 1
                lags.append(receivedAt - observation.observedAt)
                if case .dropped(let d) = body { dropped = d }
            }
        }
        if let run, runChanged {
            try saveRun(streamID, run)
        }
        cache.lastRuns[streamID] = .some(run)
        if routing.livenessEnabled && !report.observations.isEmpty {
            try recordLiveness(agentID: agent.id, observedAt: maxObservedAt, now: receivedAt)
        }
        let acked = try Int64.fetchOne(
            db.cachedStatement(
                sql: "UPDATE streams SET last_seq = MAX(last_seq, ?), last_seen = ? WHERE id = ? RETURNING last_seq"),
            arguments: [Int64(maxSeq), receivedAt, streamID]) ?? 0
        if !refused.isEmpty {
            try db.cachedStatement(sql: "UPDATE agents SET refused = refused + ? WHERE id = ?").execute(arguments: [refused.count, agent.id])
        }
        if let dropped {
            try db.cachedStatement(
                sql: """
                    UPDATE streams SET dropped_overflow = MAX(dropped_overflow, ?), dropped_corrupt = MAX(dropped_corrupt, ?)
                    WHERE id = ?
                    """
            ).execute(arguments: [dropped.overflow, dropped.corrupt, streamID])
        }
        return IngestResult(
            ackedSeq: UInt64(acked), stored: stored, duplicates: report.observations.count - stored - refused.count,
            commands: try waitingCommands(agentID: agent.id, now: receivedAt), storedLagsMs: lags, refused: refused)
    }

    /// Marks `seq` of the stream as taken: seqs above the last run are new (the usual case: the
    /// next records of the spool) and extend it in memory; one at or below it is new only if it
    /// falls in no stored run. Returns false for a duplicate.
    private func takeSeq(_ seq: Int64, streamID: Int64, run: inout SeqRun?, runChanged: inout Bool) throws -> Bool {
        if let current = run, seq <= current.to {
            guard try isGapBelow(streamID, seq: seq, lastRun: current) else { return false }
            try saveRun(streamID, SeqRun(from: seq, to: seq))
        } else if let current = run, seq == current.to + 1 {
            run = SeqRun(from: current.from, to: seq)
            runChanged = true
        } else {
            if let current = run, runChanged { try saveRun(streamID, current) }
            run = SeqRun(from: seq, to: seq)
            runChanged = true
        }
        return true
    }

    // MARK: - Fact owners (see FactOwners)

    /// A refused observation and the fact it stated.
    struct Refusal {
        var observation: RefusedObservation
        var fact: String
        var entitled: String
    }

    /// nil when `agentID` may report this observation's fact (recording it as the owner when
    /// nobody owned it), else why not. The config's owners decide first; where it is silent the
    /// fact's first reporter owns it.
    private mutating func ownershipRefusal(_ observation: Observation, in report: Report, binding: AgentBinding, now: Millis) throws -> Refusal? {
        guard let stated = observation.body.statedFact(routing: routing) else { return nil }
        let agentID = report.agent.id
        switch try ownership.judge(stated, agentID: agentID, binding: binding, owner: { try owner(of: stated.fact) }) {
        case .accept:
            return nil
        case .claim:
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO fact_owners (fact, agent_id, since) VALUES (?, ?, ?)")
                .execute(arguments: [stated.fact, agentID, now])
            owners[stated.fact] = .some(agentID)
            return nil
        case .refuse(let entitled):
            let reason = "\(stated.fact): agent \(agentID) may not report it; only \(entitled) may"
            let field = "observations[\(Self.index(ofSeq: observation.seq, in: report.observations))].\(stated.field)"
            return Refusal(observation: RefusedObservation(seq: observation.seq, field: field, reason: reason), fact: stated.fact, entitled: entitled)
        }
    }

    /// The position of `seq` in a report's observations (seqs strictly increase: validated).
    static func index(ofSeq seq: UInt64, in observations: [Observation]) -> Int {
        var low = 0, high = observations.count
        while low < high {
            let middle = (low + high) / 2
            if observations[middle].seq < seq { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private mutating func owner(of fact: String) throws -> String? {
        if let known = owners[fact] { return known }
        let owner = try String.fetchOne(db.cachedStatement(sql: "SELECT agent_id FROM fact_owners WHERE fact = ?"), arguments: [fact])
        owners[fact] = .some(owner)
        return owner
    }

    /// Counts a refusal under its agent and fact: the first `maxRefusedFactsPerAgent` facts an agent
    /// was refused keep a row each (a flood of invented names cannot grow the table); the agent's
    /// `refused` column counts them all.
    private func tallyRefusal(_ refusal: Refusal, agentID: String, now: Millis) throws {
        let seq = Int64(refusal.observation.seq)
        try db.cachedStatement(
            sql: """
                UPDATE refused_claims SET count = count + 1, owner = ?3, last_at = MAX(last_at, ?4), last_seq = ?5
                WHERE agent_id = ?1 AND fact = ?2
                """
        ).execute(arguments: [agentID, refusal.fact, refusal.entitled, now, seq])
        guard db.changesCount == 0 else { return }
        try db.cachedStatement(
            sql: """
                INSERT INTO refused_claims (agent_id, fact, owner, count, first_at, last_at, last_seq)
                SELECT ?1, ?2, ?3, 1, ?4, ?4, ?5 WHERE (SELECT COUNT(*) FROM refused_claims WHERE agent_id = ?1) < ?6
                """
        ).execute(arguments: [agentID, refusal.fact, refusal.entitled, now, seq, FactOwners.maxRefusedFactsPerAgent])
    }

    /// Commands for the agent: never handed, or handed a minute ago with no result yet (a lost
    /// response). The agent runs each action id at most once, so a repeat is harmless.
    private func waitingCommands(agentID: String, now: Millis) throws -> [AgentCommand] {
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT action_id, command FROM agent_commands WHERE agent_id = ? AND (handed_at IS NULL OR handed_at < ?) LIMIT 20"),
            arguments: [agentID, now - 60_000])
        var commands: [AgentCommand] = []
        for row in rows {
            let json: String = row["command"]
            guard let command = try? ReportCodec.decode(AgentCommand.self, from: Array(json.utf8)) else { continue }
            commands.append(command)
            try db.cachedStatement(sql: "UPDATE agent_commands SET handed_at = ? WHERE action_id = ?").execute(arguments: [now, row["action_id"] as String])
        }
        return commands
    }

    private func markDue(_ checkIDs: [Int64]?, now: Millis) throws {
        for checkID in checkIDs ?? [] {
            try db.cachedStatement(sql: "UPDATE checks SET next_due = ? WHERE id = ? AND state != 'paused'").execute(arguments: [now, checkID])
        }
    }

    /// Any observation proves the agent was alive when it observed it (judged by observed time,
    /// so spool data arriving late still counts for the moment it was taken).
    private mutating func recordLiveness(agentID: String, observedAt: Millis, now: Millis) throws {
        let name = "agent:\(agentID)"
        guard let checkID = try automaticCheck(name, kind: "liveness", reason: "first report from the agent", now: now) else { return }
        // An up check needs no evaluation now: its deadline pass will see the newer ping.
        try db.cachedStatement(
            sql: """
                UPDATE checks SET last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), feeder_agent_id = ?2,
                    next_due = CASE WHEN state IN ('new', 'down') THEN ?3 ELSE next_due END
                WHERE id = ?4
                """
        ).execute(arguments: [observedAt, agentID, now, checkID])
    }

    /// The id of a check the collector makes itself (an agent's liveness, a probe's runs), made
    /// on first sight; remembered, so the hot path looks it up once.
    private mutating func automaticCheck(_ name: String, kind: String, reason: String, now: Millis) throws -> Int64? {
        if let id = cache.automaticCheckIDs[name] { return id }
        try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO checks (name, kind, state, created_at, changed_at, reason, next_due)
                VALUES (?, ?, 'new', ?, ?, ?, ?)
                """
        ).execute(arguments: [name, kind, now, now, reason, now])
        guard let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM checks WHERE name = ?"), arguments: [name]) else { return nil }
        cache.automaticCheckIDs[name] = id
        return id
    }

    /// A run of one of the agent's probes: a failed run lengthens its check's streak of failures,
    /// a good one ends it. The check (`probe:AGENT/NAME`) is judged when the streak reaches the
    /// threshold, and when a good run follows a down state.
    private mutating func recordProbeRun(_ ping: Heartbeat, observedAt: Millis, agentID: String, now: Millis) throws {
        let name = "probe:\(agentID)/\(ping.name)"
        let failed = ping.status == .fail || (ping.exitCode ?? 0) != 0
        guard failed || ping.status == .ok else { return }
        for _ in 0..<2 {
            guard let checkID = try automaticCheck(name, kind: "probe", reason: "first run of the probe", now: now) else { return }
            if failed {
                let reason = ping.message.flatMap { $0.isEmpty ? nil : $0 } ?? ping.exitCode.map { "exit code \($0)" } ?? "failed"
                try db.cachedStatement(
                    sql: """
                        UPDATE checks SET fail_streak = fail_streak + 1, last_fail_reason = ?1,
                            last_fail_at = MAX(COALESCE(last_fail_at, ?2), ?2), feeder_agent_id = ?3,
                            next_due = CASE WHEN state != 'paused' THEN ?4 ELSE next_due END
                        WHERE id = ?5
                        """
                ).execute(arguments: [reason, observedAt, agentID, now, checkID])
            } else {
                try db.cachedStatement(
                    sql: """
                        UPDATE checks SET fail_streak = 0, last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), feeder_agent_id = ?2,
                            next_due = CASE WHEN state IN ('new', 'down') THEN ?3 ELSE next_due END
                        WHERE id = ?4
                        """
                ).execute(arguments: [observedAt, agentID, now, checkID])
            }
            if db.changesCount > 0 { return }
            // Forgotten (silent for forget_after) since its id was cached: make it again.
            cache.automaticCheckIDs[name] = nil
        }
    }

    /// A ping for a heartbeat check: ok moves last_ping_at (and measures the run from its start),
    /// start marks a run's beginning, fail or a non-zero exit code is down at the next pass.
    private func recordPing(_ ping: Heartbeat, observedAt: Millis, checkID: Int64, agentID: String, now: Millis) throws {
        let failed = ping.status == .fail || (ping.status == .ok && (ping.exitCode ?? 0) != 0)
        let feeder = "feeder_agent_id = CASE WHEN feeder_agent_id IS NULL OR feeder_agent_id = ?2 THEN ?2 ELSE '*' END"
        if failed {
            var reason = ping.exitCode.map { "exit code \($0)" } ?? "fail ping"
            if let message = ping.message, !message.isEmpty { reason += ": \(message)" }
            try db.cachedStatement(
                sql: """
                    UPDATE checks SET last_fail_reason = CASE WHEN ?1 >= COALESCE(last_fail_at, ?1) THEN ?4 ELSE last_fail_reason END,
                        last_fail_at = MAX(COALESCE(last_fail_at, ?1), ?1), \(feeder),
                        next_due = CASE WHEN state = 'paused' THEN next_due ELSE ?3 END
                    WHERE id = ?5
                    """
            ).execute(arguments: [observedAt, agentID, now, reason, checkID])
        } else if ping.status == .start {
            try db.cachedStatement(
                sql: "UPDATE checks SET last_start_at = MAX(COALESCE(last_start_at, ?1), ?1), \(feeder) WHERE id = ?3"
            ).execute(arguments: [observedAt, agentID, checkID])
        } else {
            try db.cachedStatement(
                sql: """
                    UPDATE checks SET
                        last_duration_ms = CASE WHEN ?1 > COALESCE(last_ping_at, ?1 - 1)
                            THEN COALESCE(?4, CASE WHEN last_start_at <= ?1 THEN ?1 - last_start_at END) ELSE last_duration_ms END,
                        last_ping_at = MAX(COALESCE(last_ping_at, ?1), ?1), \(feeder),
                        next_due = CASE WHEN state IN ('new', 'down') THEN ?3 ELSE next_due END
                    WHERE id = ?5
                    """
            ).execute(arguments: [observedAt, agentID, now, ping.durationMs, checkID])
        }
    }

    private func upsertAgent(_ report: Report, binding: AgentBinding, receivedAt: Millis) throws {
        let agent = report.agent
        let labels = String(decoding: ReportCodec.encode(agent.labels), as: UTF8.self)
        let boundLabels = binding.labels.isEmpty ? nil : String(decoding: ReportCodec.encode(binding.labels), as: UTF8.self)
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
            agent.id, agent.service, agent.host, agent.version, labels, report.bootID, receivedAt, receivedAt,
            receivedAt - report.sentAt, binding.service, boundLabels,
        ])
    }

    private func bind(_ s: OpaquePointer?, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(s, index, value) } else { sqlite3_bind_null(s, index) }
    }

    private func bind(_ s: OpaquePointer?, _ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(s, index)
            return
        }
        var text = value
        text.withUTF8 { utf8 in
            // SQLITE_TRANSIENT: SQLite copies the bytes before this call returns.
            _ = sqlite3_bind_text(s, index, utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(utf8.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    private mutating func stream(_ key: StreamKey, at now: Millis) throws -> Int64 {
        if let id = cache.streamIDs[key] { return id }
        if let id = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM streams WHERE agent_id = ? AND spool_id = ?"),
            arguments: [key.agentID, key.spoolID])
        {
            cache.streamIDs[key] = id
            return id
        }
        try db.cachedStatement(
            sql: "INSERT INTO streams (agent_id, spool_id, last_seq, first_seen, last_seen) VALUES (?, ?, 0, ?, ?)"
        ).execute(arguments: [key.agentID, key.spoolID, now, now])
        let id = db.lastInsertedRowID
        cache.streamIDs[key] = id
        return id
    }

    private mutating func lastRun(_ streamID: Int64) throws -> SeqRun? {
        if let known = cache.lastRuns[streamID] { return known }
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT from_seq, to_seq FROM stream_seq_runs WHERE stream_id = ? ORDER BY from_seq DESC LIMIT 1"),
            arguments: [streamID])
        let run = row.map { SeqRun(from: $0["from_seq"], to: $0["to_seq"]) }
        cache.lastRuns[streamID] = .some(run)
        return run
    }

    /// Whether `seq` (at or below the last run's end) was never stored: it lies between runs.
    /// An agent that ships in order never sends one; this keeps such a record rather than
    /// dropping it as a duplicate.
    private func isGapBelow(_ streamID: Int64, seq: Int64, lastRun: SeqRun) throws -> Bool {
        if seq >= lastRun.from { return false }
        let end = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT to_seq FROM stream_seq_runs WHERE stream_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1"),
            arguments: [streamID, seq])
        return end.map { $0 < seq } ?? true
    }

    private func saveRun(_ streamID: Int64, _ run: SeqRun) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO stream_seq_runs (stream_id, from_seq, to_seq) VALUES (?, ?, ?)
                ON CONFLICT (stream_id, from_seq) DO UPDATE SET to_seq = excluded.to_seq
                """
        ).execute(arguments: [streamID, run.from, run.to])
    }

    private mutating func subject(_ name: String) throws -> Int64 {
        if let id = cache.subjectIDs[name] { return id }
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM subjects WHERE name = ?"), arguments: [name]) {
            cache.subjectIDs[name] = id
            return id
        }
        try db.cachedStatement(sql: "INSERT INTO subjects (name) VALUES (?)").execute(arguments: [name])
        let id = db.lastInsertedRowID
        cache.subjectIDs[name] = id
        return id
    }
}
