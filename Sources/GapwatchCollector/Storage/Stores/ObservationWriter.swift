import GapwatchProtocol

/// The ingest writer's insert of observations and subjects (the hot path: the SQLite
/// implementation keeps its cached statements and C-API insert).
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol ObservationWriter {
    /// Stores one observation; false when the stream already holds its seq (nothing written).
    func insert(streamID: Int64, seq: Int64, observedAt: Millis, receivedLagMs: Millis, kind: Int, subjectID: Int64, columns c: ObservationColumns)
        throws -> Bool

    func subjectID(named name: String) throws -> Int64?

    /// A new subject; returns its id.
    func addSubject(named name: String) throws -> Int64

    /// The stored observation of a stream's seq, looked up by the table's full key (one index
    /// probe): its kind's storage code and columns; nil when none is stored within the times.
    func storedCopy(subjectID: Int64, observedFrom: Millis, through: Millis, streamID: Int64, seq: Int64) throws -> (
        kind: Int64, columns: ObservationColumns
    )?
}
