import GRDB
import GapwatchProtocol

/// The collector's own entries on the timeline (notification attempts; later, actions), stored
/// like any agent's observations under the pseudo-agent `@collector`, so the timeline API and CLI
/// show them with everything else.
enum CollectorTimeline {
    static let agentID = "@collector"

    static func append(_ db: Database, body: ObservationBody, at: Millis) throws {
        // Seqs come from streams.last_seq, not stream_seq_runs: no report can name '@collector',
        // so nothing is ever deduplicated against this stream.
        guard
            let stream = try Row.fetchOne(
                db, sql: "UPDATE streams SET last_seq = last_seq + 1, last_seen = ? WHERE agent_id = ? RETURNING id, last_seq",
                arguments: [at, agentID])
        else { return }
        let name = body.subject(agentID: agentID)
        try db.execute(sql: "INSERT OR IGNORE INTO subjects (name) VALUES (?)", arguments: [name])
        let subjectID = try Int64.fetchOne(db, sql: "SELECT id FROM subjects WHERE name = ?", arguments: [name]) ?? 0
        let c = body.columns
        try db.execute(
            sql: """
                INSERT INTO observations (stream_id, seq, observed_at, received_lag, kind, subject_id, status, part, num, code, at1, at2, text, target)
                VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: StatementArguments(
                [stream["id"] as Int64, stream["last_seq"] as Int64, at, body.kind.storageCode, subjectID] as [(any DatabaseValueConvertible)?]
                    + c.arguments))
    }
}
