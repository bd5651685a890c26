import GRDB
import GRDBSQLite
import GapwatchProtocol

/// The ingest writer's side of `subjects` and `observations`, inside its transaction: the one
/// hot insert, subject ids, and the stored copy a repeated seq is compared with. Made once per
/// report, so the insert is prepared (looked up in the statement cache) once per report, not
/// once per observation.
struct SQLiteObservationWriter: ObservationWriter {
    let db: Database
    private let insert: Statement

    init(db: Database) throws {
        self.db = db
        self.insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO observations
                    (stream_id, seq, observed_at, received_lag, kind, subject_id, status, part, num, code, at1, at2, text, target)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
    }

    /// Stores one observation; false when the stream already holds its seq (nothing written).
    func insert(streamID: Int64, seq: Int64, observedAt: Millis, receivedLagMs: Millis, kind: Int, subjectID: Int64, columns c: ObservationColumns)
        throws -> Bool
    {
        // Bound with the C API: GRDB's StatementArguments boxing cost a third of ingest's time.
        let s = insert.sqliteStatement
        sqlite3_reset(s)
        sqlite3_bind_int64(s, 1, streamID)
        sqlite3_bind_int64(s, 2, seq)
        sqlite3_bind_int64(s, 3, observedAt)
        sqlite3_bind_int64(s, 4, receivedLagMs)
        sqlite3_bind_int64(s, 5, Int64(kind))
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
        return sqlite3_changes(db.sqliteConnection) > 0
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
            _ = sqlite3_bind_text(
                s, index, utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(utf8.count),
                unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    // MARK: - Subjects

    func subjectID(named name: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM subjects WHERE name = ?"), arguments: [name])
    }

    /// A new subject; returns its id.
    func addSubject(named name: String) throws -> Int64 {
        try db.cachedStatement(sql: "INSERT INTO subjects (name) VALUES (?)").execute(arguments: [name])
        return db.lastInsertedRowID
    }

    // MARK: - Repeats

    /// The stored observation of a stream's seq, looked up by the table's full key (one index
    /// probe): its kind's storage code and columns; nil when none is stored within the times.
    func storedCopy(subjectID: Int64, observedFrom: Millis, through: Millis, streamID: Int64, seq: Int64) throws -> (
        kind: Int64, columns: ObservationColumns
    )? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT kind, status, part, num, code, at1, at2, text, target FROM observations
                        WHERE subject_id = ? AND observed_at BETWEEN ? AND ? AND stream_id = ? AND seq = ?
                        """),
                arguments: [subjectID, observedFrom, through, streamID, seq])
        else { return nil }
        let columns = ObservationColumns(
            status: row["status"], part: row["part"], num: row["num"], code: row["code"], at1: row["at1"], at2: row["at2"],
            text: row["text"], target: row["target"])
        return (row["kind"], columns)
    }
}

extension ObservationColumns {
    var arguments: [(any DatabaseValueConvertible)?] { [status, part, num, code, at1, at2, text, target] }

    init(row: Row) {
        self.init(
            status: row["status"], part: row["part"], num: row["num"], code: row["code"], at1: row["at1"],
            at2: row["at2"], text: row["text"], target: row["target"])
    }
}
