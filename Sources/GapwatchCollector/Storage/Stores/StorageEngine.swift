/// A storage engine as `AppDatabase` uses it: transactions that hand out the protocol-typed
/// stores (see `StoreTransaction` for the contract), and the upkeep the collector's services call.
/// SQLite (`SQLiteEngine`) is the one today.
protocol StorageEngine: Sendable {
    func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T
    func read<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T
    /// One commit for everything the body's stores wrote; nothing when the body throws.
    func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T
    func write<T: Sendable>(_ body: @Sendable (StoreTransaction) throws -> T) async throws -> T
    /// Bounds the engine's write-ahead log (the `wal-checkpoint` service).
    func checkpoint() throws
    /// Gives back the engine's connections.
    func close() throws
    /// The cheapest query: whether the engine answers at all.
    func quickCheck() throws -> Int
    /// A full consistency check; "ok" when sound.
    func integrityCheck() throws -> String
}
