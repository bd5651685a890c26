import GapwatchProtocol
import GapwatchRules

/// Reads of the observations the rules judge (counts, decisions, items, probes).
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol ObservationStore {
    /// The id of the subject `name` (`dataset:NAME`, `workflow:NAME`…), if anything was ever stored under it.
    func subjectID(named name: String) throws -> Int64?

    /// The smallest partition key of a subject's counts strictly between `after` and `before`:
    /// one index seek, so a walk over the distinct keys of a window is a skip scan, not a read of
    /// every count in it.
    func nextCountPartition(subjectID: Int64, after: String, before: String) throws -> String?

    /// The newest count of a subject's partition and when it was observed. An index-only walk of
    /// observations_counts (subject_id, part, observed_at, num): a GROUP BY with MAX would read
    /// every count a busy partition ever received.
    func newestCount(subjectID: Int64, partition: String) throws -> (count: Int64, observedAt: Millis)?

    /// The first sighting of `count` as a partition's current value: after the newest row holding
    /// another value. nil: no sighting (the caller falls back to the newest one's time).
    func firstSighting(ofCount count: Int64, subjectID: Int64, partition: String) throws -> Millis?

    /// The latest count of a dataset's partition (a run window's condition).
    func latestCount(dataset: String, partition: String) throws -> Int64?

    /// When a dataset last got a count, of any partition.
    func lastCountAt(dataset: String) throws -> Millis?

    /// A workflow's decisions observed in [from, to), oldest first; an unknown decision is skipped.
    func decisions(workflow: String, from: Millis, to: Millis) throws -> [DecisionSighting]

    /// The latest status of every item of `kind` seen since `since`.
    func itemSightings(kind: String, since: Millis) throws -> [ItemSighting]

    /// The subjects of agents' http probes (`target:URL`): their ids and URLs. Probed URLs are few.
    func probedTargets() throws -> [(subjectID: Int64, url: String)]

    /// The latest probe of a subject observed at or after `since`: when, and whether it was healthy.
    func latestProbe(subjectID: Int64, since: Millis) throws -> (observedAt: Millis, healthy: Bool)?
}
