import GapwatchProtocol

/// What `Retention` prunes with: observations past the horizon, folded into daily rollups.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol RetentionStore {
    /// Every subject's id, in order.
    func subjectIDs() throws -> [Int64]
    /// Folds the subject's oldest observations before `cutoff` (at most `limit`) into
    /// `daily_rollups` and deletes them, in the caller's transaction; returns how many went.
    func pruneBatch(subject: Int64, before cutoff: Millis, limit: Int) throws -> Int
}
