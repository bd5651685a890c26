import GapwatchProtocol

/// The `rejected_agents` table.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol RejectedAgentTable {
    /// Adds each row's count to the stored one (saturating) and widens its first/last seen.
    func add(_ rows: [RejectedAgentRow]) throws

    /// Keeps the `maxRows` most recently seen rows.
    func trim(keeping maxRows: Int) throws

    /// The `limit` most recently seen rows.
    func recent(limit: Int) throws -> [RejectedAgentRow]
}

/// One row of `rejected_agents`: refused reports of one caller, token, source and reason.
struct RejectedAgentRow {
    var claimedAgentID: String
    /// "" when the report presented no known token.
    var tokenID: String
    var source: String
    var reason: String
    var count: Int64
    var firstSeen: Millis
    var lastSeen: Millis
}
