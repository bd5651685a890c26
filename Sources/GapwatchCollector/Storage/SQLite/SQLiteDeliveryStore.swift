import GRDB
import GapwatchProtocol

/// The only owner of `deliveries`: one row per (incident event, channel), the outcome of the
/// latest attempt to notify that channel about that event.
struct SQLiteDeliveryStore: DeliveryStore {
    let db: Database

    /// Records one attempt per event, counting attempts.
    func recordAttempt(eventIDs: [Int64], channel: String, state: DeliveryState, detail: String, at: Millis) throws {
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (event_id, channel, state, attempts, last_attempt_at, detail) VALUES (?, ?, ?, 1, ?, ?)
                ON CONFLICT (event_id, channel) DO UPDATE SET state = excluded.state, attempts = attempts + 1,
                    last_attempt_at = excluded.last_attempt_at, detail = excluded.detail
                """)
        for eventID in eventIDs { try upsert.execute(arguments: [eventID, channel, state.rawValue, at, detail]) }
    }

    /// Gives up on these channels for these events.
    func markFailed(eventIDs: [Int64], channels: [String]) throws {
        guard !eventIDs.isEmpty, !channels.isEmpty else { return }
        try db.execute(
            sql: """
                UPDATE deliveries SET state = \(DeliveryState.failed.sqlLiteral)
                WHERE event_id IN (\(eventIDs.map { _ in "?" }.joined(separator: ","))) AND channel IN (\(channels.map { _ in "?" }.joined(separator: ",")))
                """,
            arguments: StatementArguments(eventIDs.map { $0 as any DatabaseValueConvertible } + channels.map { $0 as any DatabaseValueConvertible }))
    }

    /// Channels finished with the event: delivered, or failed for good.
    func doneChannels(eventID: Int64) throws -> Set<String> {
        Set(
            try String.fetchAll(
                db, sql: "SELECT channel FROM deliveries WHERE event_id = ? AND state IN (\(DeliveryState.sqlList(DeliveryState.finished)))",
                arguments: [eventID]))
    }

    func sentCount(eventID: Int64) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM deliveries WHERE event_id = ? AND state = \(DeliveryState.sent.sqlLiteral)", arguments: [eventID]) ?? 0
    }

    /// Channels given up on for the event, by name.
    func failedChannels(eventID: Int64) throws -> [String] {
        try String.fetchAll(
            db, sql: "SELECT channel FROM deliveries WHERE event_id = ? AND state = \(DeliveryState.failed.sqlLiteral) ORDER BY channel",
            arguments: [eventID])
    }

    /// Every delivery of an incident's events, by channel.
    func forIncident(_ incidentID: Int64) throws -> [Row] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT d.* FROM deliveries d JOIN incident_events e ON e.id = d.event_id WHERE e.incident_id = ? ORDER BY d.channel"),
            arguments: [incidentID])
    }
}
