import GapwatchProtocol
import GapwatchRules

/// The `silences` table.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol SilenceStore {
    /// Stores a validated silence; returns its id.
    func insert(
        rule: String?, subject: String?, labelsJSON: String, startsAt: Millis, endsAt: Millis, comment: String, createdBy: String, now: Millis
    ) throws -> Int64

    /// Every silence, or (without `includeEnded`) those not deleted or expired at `now`.
    func list(includeEnded: Bool, now: Millis) throws -> [StoredSilence]

    /// The silences in force at `now`.
    func active(now: Millis) throws -> [Silence]

    /// Ends a live silence now. False when no such live silence exists.
    func end(id: Int64, now: Millis) throws -> Bool
}

/// A silence as stored: the rule's matcher and the record of who made and ended it.
struct StoredSilence: Sendable {
    var silence: Silence
    var createdBy: String
    var createdAt: Millis
    /// When it was ended by hand; nil while it stands.
    var deletedAt: Millis?
}
