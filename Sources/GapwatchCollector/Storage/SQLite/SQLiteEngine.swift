import GRDB
import GapwatchProtocol
import Logging

/// `StorageEngine` on one SQLite file: a single `DatabasePool` (WAL) per collector process.
final class SQLiteEngine: StorageEngine {
    let pool: DatabasePool

    init(_ options: StorageOptions) throws {
        var config = Configuration()
        config.busyMode = .timeout(options.busyTimeoutSeconds)
        let synchronous = options.synchronous.rawValue.uppercased()
        let journalLimit = options.journalSizeLimitBytes
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(journalLimit)")
            // Checkpoint every ~40 MB of WAL instead of SQLite's 4 MB: each checkpoint fsyncs and
            // stalls the writer, and at ingest rates the default ran one a second (bench store:
            // 1,838 -> 2,324 reports/s). The wal-checkpoint service still truncates the WAL on its interval.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        AppDatabase.createPrivately(options.path)
        pool = try DatabasePool(path: options.path, configuration: config)
        // The writer inserts at each subject's end of the table, so its hot pages are one leaf
        // per busy subject plus their parents: more than SQLite's default 2 MB page cache holds.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -65536") }
        let applied = try pool.read { db in try AppDatabase.migrator.appliedIdentifiers(db) }
        try AppDatabase.migrator.migrate(pool)
        if applied.contains("v7-count-index-with-value") && !applied.contains(AppDatabase.observationsRewrite) {
            // The v8 rewrite left the old table's pages free: the file would stay twice its size
            // until new observations refill them. One VACUUM (seconds per 10 million rows) gives
            // them back and packs the new table. Not fatal: the store works either way.
            do {
                try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
            } catch {
                Logger(label: "gapwatch.storage").warning("VACUUM after the v8 migration failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func read<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    func write<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    /// A truncating checkpoint, so the WAL stays bounded even while readers keep it from resetting.
    func checkpoint() throws {
        try pool.writeWithoutTransaction { db in
            _ = try db.checkpoint(.truncate)
        }
    }

    func close() throws {
        try pool.close()
    }

    func quickCheck() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") ?? 0 }
    }

    func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
