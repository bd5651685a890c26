import GRDB

@testable import GapwatchCollector

/// The storage engine the store tests run on: a migrated in-memory SQLite database whose
/// transactions hand out the protocol-typed stores (`tx.checks`, `tx.incidents(…)`…). A second
/// engine runs the same tests by providing the same `write`/`read` over its own transaction.
struct SQLiteStores {
    let queue: DatabaseQueue

    /// `foreignKeys: false` lets a test store observations without the agent and stream rows they belong to.
    static func inMemory(foreignKeys: Bool = true) throws -> SQLiteStores {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = foreignKeys
        let queue = try DatabaseQueue(configuration: configuration)
        try AppDatabase.migrator.migrate(queue)
        return SQLiteStores(queue: queue)
    }

    func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try queue.write { db in try body(SQLiteTransaction(db: db)) }
    }

    func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try queue.read { db in try body(SQLiteTransaction(db: db)) }
    }

    /// A look behind the seam, for assertions on columns no store method reads back (SQLite's SQL).
    static func sqlite(_ tx: StoreTransaction) throws -> Database {
        guard let sqlite = tx as? SQLiteTransaction else { throw SQLiteStoresError.notSQLite }
        return sqlite.db
    }
}

enum SQLiteStoresError: Error { case notSQLite }
