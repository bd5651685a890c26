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

/// The collector's storage: one engine (SQLite today, `SQLiteEngine`), opened once per process.
/// Code outside `Storage/` reaches it only through `read { tx in … }` / `write { tx in … }`.
public final class AppDatabase: Sendable {
    /// The engine every transaction goes through.
    let engine: any StorageEngine
    /// Not public: outside this package the database is reached through its stores and use cases.
    /// Still `package` for the benchmark's seeding and the end-to-end tests' assertions (SQLite only).
    package let pool: DatabasePool
    public let path: String

    public init(_ options: StorageOptions) throws {
        let sqlite = try SQLiteEngine(options)
        engine = sqlite
        pool = sqlite.pool
        path = options.path
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
        try engine.close()
    }

    /// Forces a checkpoint so the WAL stays bounded even while readers keep it from resetting.
    public func checkpoint() throws {
        try engine.checkpoint()
    }

    /// Runs `body` in a read transaction, for code that composes stores (`tx.checks`, `tx.actions`…);
    /// outside `Storage/` nothing else reaches the engine, and no engine type crosses (`StoreTransaction`).
    func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try engine.read(body)
    }

    func read<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await engine.read(body)
    }

    /// Runs `body` in a write transaction (one commit for everything the stores in it write).
    func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try engine.write(body)
    }

    func write<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T {
        try await engine.write(body)
    }

    /// The cheapest query: whether the database answers at all (`GET /healthz`).
    func integrityQuickCheck() throws -> Int {
        try engine.quickCheck()
    }

    /// `PRAGMA integrity_check`; "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        try engine.integrityCheck()
    }
}
