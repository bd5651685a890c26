import GRDB
import GapwatchProtocol
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// How hard SQLite works to survive a power loss (`PRAGMA synchronous`).
public enum SynchronousMode: String, Sendable, CaseIterable {
    /// Survives a process crash; a power loss can lose the last transactions. The default.
    case normal
    /// Survives a power loss too, at the cost of an fsync per commit.
    case full
}

/// Storage settings from the collector config.
public struct StorageOptions: Sendable {
    public var path: String
    public var synchronous: SynchronousMode = .normal
    public var busyTimeoutSeconds: Double = 5
    /// Upper bound the WAL file is truncated to after a checkpoint.
    public var journalSizeLimitBytes: Int = 64 << 20

    public init(path: String) { self.path = path }
}

/// Owns the single `DatabasePool` (WAL) of a collector process. Open the file once per process.
public final class AppDatabase: Sendable {
    /// Not public: outside this package the database is reached through its stores and use cases.
    /// Still `package` for the benchmark's seeding and the end-to-end tests' assertions.
    package let pool: DatabasePool
    public let path: String

    public init(_ options: StorageOptions) throws {
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
        Self.createPrivately(options.path)
        pool = try DatabasePool(path: options.path, configuration: config)
        path = options.path
        // The writer inserts at each subject's end of the table, so its hot pages are one leaf
        // per busy subject plus their parents: more than SQLite's default 2 MB page cache holds.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -65536") }
        let applied = try pool.read { db in try Self.migrator.appliedIdentifiers(db) }
        try Self.migrator.migrate(pool)
        if applied.contains("v7-count-index-with-value") && !applied.contains(Self.observationsRewrite) {
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

    /// Creates a missing database file with mode 0600 before SQLite opens it: SQLite gives its WAL,
    /// shared-memory and journal files the database file's mode, so none of them is readable by
    /// other users, whatever the umask. An existing file keeps its mode (a warning says when others
    /// may read it). In-memory and URI databases are left to SQLite.
    static func createPrivately(_ path: String) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
            return
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            Logger(label: "gapwatch.storage").warning(
                "the database file may be read by other users; its WAL and shared-memory files get the same mode",
                metadata: ["database": "\(path)", "mode": "\(String(info.st_mode & 0o777, radix: 8))", "fix": "chmod 600 the file"])
        }
    }

    /// Closes the database's connections (a start that never served gives its files back).
    public func closeConnections() throws {
        try pool.close()
    }

    /// Forces a checkpoint so the WAL stays bounded even while readers keep it from resetting.
    public func checkpoint() throws {
        try pool.writeWithoutTransaction { db in
            _ = try db.checkpoint(.truncate)
        }
    }

    /// Runs `body` in a read transaction, for code that composes stores (`tx.checks`, `tx.actions`…);
    /// outside `Storage/` nothing else reaches the pool, and no engine type crosses (`StoreTransaction`).
    func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func read<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    /// Runs `body` in a write transaction (one commit for everything the stores in it write).
    func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    func write<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    /// The cheapest query: whether the database answers at all (`GET /healthz`).
    func integrityQuickCheck() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") ?? 0 }
    }

    /// `PRAGMA integrity_check`; "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
