import GRDB
import GapwatchProtocol

/// `TimelineReads` on SQLite.
struct SQLiteTimelineReads: TimelineReads {
    let db: Database

    func agents() throws -> [AgentInfo] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT a.*,
                    COALESCE((SELECT last_seq FROM streams s WHERE s.agent_id = a.id ORDER BY last_seen DESC, id DESC LIMIT 1), 0) AS last_seq,
                    -- TOTAL, not SUM: SUM stops the query with an error when a sum passes 2^63;
                    -- TOTAL is a float, which CAST brings back, held at the largest integer.
                    (SELECT CAST(TOTAL(dropped_overflow) AS INTEGER) FROM streams s WHERE s.agent_id = a.id) AS dropped_overflow,
                    (SELECT CAST(TOTAL(dropped_corrupt) AS INTEGER) FROM streams s WHERE s.agent_id = a.id) AS dropped_corrupt
                FROM agents a WHERE a.id != '@collector' ORDER BY a.id
                """)
        return rows.map { row in
            let labelsJSON: String = row["labels"]
            let labels = (try? ReportCodec.decode([String: String].self, from: Array(labelsJSON.utf8))) ?? [:]
            return AgentInfo(
                id: row["id"], service: row["service"], host: row["host"], version: row["version"], labels: labels,
                bootID: row["boot_id"], firstSeen: row["first_seen"], lastSeen: row["last_seen"],
                lastSeq: UInt64(clamping: row["last_seq"] as Int64), droppedOverflow: row["dropped_overflow"],
                droppedCorrupt: row["dropped_corrupt"], clockSkewMs: row["clock_skew_ms"], clockCorrected: row["clock_corrected"],
                clockRefused: row["clock_refused"], boundService: row["bound_service"], boundLabels: TokenRow.labels(row["bound_labels"]),
                refused: row["refused"])
        }
    }

    /// Observations in `observed_at` order, one page at a time.
    func timeline(_ filter: TimelineFilter) throws -> TimelinePage {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let subject = filter.subject, subject.contains(where: { $0 == "*" || $0 == "?" }) {
            // GLOB with a constant prefix walks the subjects' unique index.
            conditions.append("o.subject_id IN (SELECT id FROM subjects WHERE name GLOB ?)")
            arguments.append(subject.replacingOccurrences(of: "[", with: "[[]"))
        } else if let subject = filter.subject {
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM subjects WHERE name = ?", arguments: [subject])
            else { return TimelinePage(observations: [], nextCursor: nil) }
            conditions.append("o.subject_id = ?")
            arguments.append(id)
        }
        if let service = filter.service {
            conditions.append("o.stream_id IN (SELECT st.id FROM streams st JOIN agents a ON a.id = st.agent_id WHERE a.service = ?)")
            arguments.append(service)
        }
        for (key, value) in filter.labels.sorted(by: { $0.key < $1.key }) {
            conditions.append(
                """
                o.stream_id IN (SELECT st.id FROM streams st JOIN agents a ON a.id = st.agent_id
                                WHERE EXISTS (SELECT 1 FROM json_each(a.labels) WHERE key = ? AND value = ?))
                """)
            arguments.append(contentsOf: [key, value])
        }
        if let kind = filter.kind {
            conditions.append("o.kind = ?")
            arguments.append(kind.storageCode)
        }
        if let agent = filter.agentID {
            conditions.append("o.stream_id IN (SELECT id FROM streams WHERE agent_id = ?)")
            arguments.append(agent)
        }
        if let from = filter.from {
            conditions.append("o.observed_at >= ?")
            arguments.append(from)
        }
        if let to = filter.to {
            conditions.append("o.observed_at < ?")
            arguments.append(to)
        }
        if let after = filter.after {
            // The plain bound lets SQLite seek the primary key's observed_at; the row value decides ties.
            conditions.append("o.observed_at >= ? AND (o.observed_at, o.stream_id, o.seq) > (?, ?, ?)")
            arguments.append(contentsOf: [after.observedAt, after.observedAt, after.streamID, after.seq] as [Int64])
        }
        if filter.subject == nil, filter.from != nil || filter.after != nil {
            // The table is keyed by (subject_id, observed_at, ...) and nothing else indexes
            // time or agent: naming every subject makes SQLite seek each subject's time range
            // instead of reading the whole table. Without a lower time bound it is a full scan.
            conditions.append("o.subject_id IN (SELECT id FROM subjects)")
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT o.*, s.name AS subject, st.agent_id, st.spool_id
                FROM observations o
                JOIN subjects s ON s.id = o.subject_id
                JOIN streams st ON st.id = o.stream_id
                \(whereClause)
                ORDER BY o.observed_at, o.stream_id, o.seq
                LIMIT ?
                """, arguments: StatementArguments(arguments + [filter.limit + 1]))
        var entries: [TimelineEntry] = []
        var last: TimelineCursor?
        for row in rows.prefix(filter.limit) {
            let subject: String = row["subject"]
            guard let kind = ObservationKind(storageCode: row["kind"]),
                let body = ObservationBody(kind: kind, subject: subject, columns: ObservationColumns(row: row))
            else { continue }
            let seq: Int64 = row["seq"]
            let observedAt: Millis = row["observed_at"]
            entries.append(
                TimelineEntry(
                    agentID: row["agent_id"], spoolID: row["spool_id"], subject: subject, receivedAt: row["received_at"],
                    observation: Observation(seq: UInt64(clamping: seq), observedAt: observedAt, body: body)))
            last = TimelineCursor(observedAt: observedAt, streamID: row["stream_id"], seq: seq)
        }
        let more = rows.count > filter.limit
        return TimelinePage(observations: entries, nextCursor: more ? last?.token : nil)
    }

    /// Total stored observations (for tests, benchmarks and `status`).
    func observationCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM observations") ?? 0
    }

    /// The daily rollups of `subject` from `fromDay` to `toDay` (YYYY-MM-DD, inclusive), by day.
    func rollups(subject: String, fromDay: String, toDay: String) throws -> [DailyRollup] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT s.name, r.* FROM daily_rollups r JOIN subjects s ON s.id = r.subject_id
                WHERE s.name = ? AND r.day >= ? AND r.day <= ? ORDER BY r.day, r.kind
                """, arguments: [subject, fromDay, toDay]
        ).map { row in
            DailyRollup(
                subject: row["name"], kind: ObservationKind(storageCode: row["kind"])?.rawValue ?? "unknown", day: row["day"],
                observations: row["observations"], firstAt: row["first_at"], lastAt: row["last_at"], failed: row["failed"],
                numMin: row["num_min"], numMax: row["num_max"], numSum: row["num_sum"])
        }
    }
}
