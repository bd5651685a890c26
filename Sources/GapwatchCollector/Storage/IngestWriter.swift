import GRDB
import GapwatchProtocol
import Logging

/// What storing one report did.
public struct IngestResult: Sendable, Equatable {
    /// Highest seq of the report's spool now durably stored.
    public var ackedSeq: UInt64
    public var stored: Int
    public var duplicates: Int
}

/// The collector's single writer. Reports that arrive while a transaction is being written wait
/// and are committed together in the next one (group commit), so one fsync serves many requests.
/// A caller's `ingest` returns only after its report's transaction committed.
public actor IngestWriter {
    private let database: AppDatabase
    private let logger: Logger
    private var pending: [Pending] = []
    private var flushing = false
    /// Ids known to be committed. Only updated after a commit, so a rolled-back id never lingers.
    private var subjectIDs: [String: Int64] = [:]
    private var streamIDs: [StreamKey: Int64] = [:]

    private struct Pending {
        var report: Report
        var receivedAt: Millis
        var continuation: CheckedContinuation<IngestResult, any Error>
    }

    public init(database: AppDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Stores `report` (deduplicating by agent, spool and seq) and returns once it is committed.
    public func ingest(_ report: Report, receivedAt: Millis) async throws -> IngestResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(report: report, receivedAt: receivedAt, continuation: continuation))
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
            let items = group.map { ($0.report, $0.receivedAt) }
            let knownSubjects = subjectIDs
            let knownStreams = streamIDs
            do {
                let outcome = try await database.pool.write { db in
                    var batch = BatchWriter(db: db, subjectIDs: knownSubjects, streamIDs: knownStreams)
                    var results: [IngestResult] = []
                    results.reserveCapacity(items.count)
                    for (report, receivedAt) in items {
                        results.append(try batch.store(report, receivedAt: receivedAt))
                    }
                    return (results, batch.subjectIDs, batch.streamIDs)
                }
                subjectIDs = outcome.1
                streamIDs = outcome.2
                for (item, result) in zip(group, outcome.0) { item.continuation.resume(returning: result) }
            } catch {
                logger.error("ingest transaction failed", metadata: ["error": "\(error)", "reports": "\(group.count)"])
                for item in group { item.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}

struct StreamKey: Hashable, Sendable {
    var agentID: String
    var spoolID: String
}

/// Writes reports inside one open transaction.
private struct BatchWriter {
    let db: Database
    var subjectIDs: [String: Int64]
    var streamIDs: [StreamKey: Int64]

    mutating func store(_ report: Report, receivedAt: Millis) throws -> IngestResult {
        let agent = report.agent
        let labels = String(decoding: ReportCodec.encode(agent.labels), as: UTF8.self)
        try db.cachedStatement(
            sql: """
                INSERT INTO agents (id, service, host, version, labels, boot_id, first_seen, last_seen, clock_skew_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET service = excluded.service, host = excluded.host,
                    version = excluded.version, labels = excluded.labels, boot_id = excluded.boot_id,
                    last_seen = MAX(last_seen, excluded.last_seen), clock_skew_ms = excluded.clock_skew_ms
                """
        ).execute(arguments: [
            agent.id, agent.service, agent.host, agent.version, labels, report.bootID, receivedAt, receivedAt,
            receivedAt - report.sentAt,
        ])
        let streamID = try stream(StreamKey(agentID: agent.id, spoolID: report.spoolID), at: receivedAt)

        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO observations
                    (stream_id, seq, observed_at, received_at, kind, subject_id, status, part, num, code, at1, at2, text, target)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var stored = 0
        var maxSeq: UInt64 = 0
        var dropped: DroppedRecords?
        for observation in report.observations {
            let body = observation.body
            let subjectID = try subject(body.subject(agentID: agent.id))
            var arguments: [(any DatabaseValueConvertible)?] = [
                streamID, Int64(observation.seq), observation.observedAt, receivedAt, body.kind.storageCode, subjectID,
            ]
            arguments.append(contentsOf: body.columns.arguments)
            try insert.execute(arguments: StatementArguments(arguments))
            if db.changesCount > 0 {
                stored += 1
                if case .dropped(let d) = body { dropped = d }
            }
            maxSeq = max(maxSeq, observation.seq)
        }
        let acked = try Int64.fetchOne(
            db.cachedStatement(
                sql: "UPDATE streams SET last_seq = MAX(last_seq, ?), last_seen = ? WHERE id = ? RETURNING last_seq"),
            arguments: [Int64(maxSeq), receivedAt, streamID]) ?? 0
        if let dropped {
            try db.cachedStatement(
                sql: """
                    UPDATE streams SET dropped_overflow = MAX(dropped_overflow, ?), dropped_corrupt = MAX(dropped_corrupt, ?)
                    WHERE id = ?
                    """
            ).execute(arguments: [dropped.overflow, dropped.corrupt, streamID])
        }
        return IngestResult(ackedSeq: UInt64(acked), stored: stored, duplicates: report.observations.count - stored)
    }

    private mutating func stream(_ key: StreamKey, at now: Millis) throws -> Int64 {
        if let id = streamIDs[key] { return id }
        if let id = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM streams WHERE agent_id = ? AND spool_id = ?"),
            arguments: [key.agentID, key.spoolID])
        {
            streamIDs[key] = id
            return id
        }
        try db.cachedStatement(
            sql: "INSERT INTO streams (agent_id, spool_id, last_seq, first_seen, last_seen) VALUES (?, ?, 0, ?, ?)"
        ).execute(arguments: [key.agentID, key.spoolID, now, now])
        let id = db.lastInsertedRowID
        streamIDs[key] = id
        return id
    }

    private mutating func subject(_ name: String) throws -> Int64 {
        if let id = subjectIDs[name] { return id }
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM subjects WHERE name = ?"), arguments: [name]) {
            subjectIDs[name] = id
            return id
        }
        try db.cachedStatement(sql: "INSERT INTO subjects (name) VALUES (?)").execute(arguments: [name])
        let id = db.lastInsertedRowID
        subjectIDs[name] = id
        return id
    }
}
