import GapwatchProtocol

/// The `deliveries` table: one row per (incident event, channel) attempt.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol DeliveryStore {
    /// Records one attempt per event, counting attempts.
    func recordAttempt(eventIDs: [Int64], channel: String, state: DeliveryState, detail: String, at: Millis) throws

    /// Gives up on these channels for these events.
    func markFailed(eventIDs: [Int64], channels: [String]) throws

    /// Channels finished with the event: delivered, or failed for good.
    func doneChannels(eventID: Int64) throws -> Set<String>

    func sentCount(eventID: Int64) throws -> Int

    /// Channels given up on for the event, by name.
    func failedChannels(eventID: Int64) throws -> [String]
}
