import GapwatchProtocol

/// The `agent_streams` and `stream_seq_runs` tables: one stream per (agent, spool) and its stored seqs.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol StreamTable {
    /// The agent's 100 most recently seen streams, newest first; `bound` marks the one its commands go to.
    func streams(of agentID: String, bound boundID: Int64?) throws -> [AgentStreamInfo]

    func id(agentID: String, spoolID: String) throws -> Int64?

    /// A new stream; returns its id.
    func insert(agentID: String, spoolID: String, previousSpoolID: String?, at now: Millis) throws -> Int64

    /// Raises the stream's last stored seq to `seq` (never lowers it); returns the stored value.
    func advance(_ streamID: Int64, toSeq seq: Int64, seenAt: Millis) throws -> Int64

    /// The agent's count of records its spool dropped (running totals: the highest counts).
    func recordDropped(_ streamID: Int64, overflow: Int64, corrupt: Int64) throws

    /// `streamID` if it is one of the agent's streams.
    func id(_ streamID: Int64, ofAgent agentID: String) throws -> Int64?

    /// The agent's most recently seen stream.
    func latest(ofAgent agentID: String) throws -> Int64?

    /// The stream's highest run of stored seqs.
    func lastRun(_ streamID: Int64) throws -> (from: Int64, to: Int64)?

    /// The end of the run that starts at or below `seq`.
    func runEnd(_ streamID: Int64, startingAtOrBelow seq: Int64) throws -> Int64?

    func saveRun(_ streamID: Int64, from: Int64, to: Int64) throws
}
