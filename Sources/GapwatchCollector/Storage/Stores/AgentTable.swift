import GapwatchProtocol

/// The `agents` table: identity, liveness columns, bindings and clock counts.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol AgentTable {
    /// The service the agent last reported; nil for an unknown agent.
    func service(of agentID: String) throws -> String?

    /// The agent's service and its clock's offset from the collector's; nil for an unknown agent.
    func clock(of agentID: String) throws -> (service: String?, skewMs: Millis)?

    /// The service and labels (JSON) its token binds the agent to; nil for an unknown agent.
    func binding(of agentID: String) throws -> (service: String?, labels: String?)?

    /// Every agent but the collector's own, by id, with the state of its liveness check (nil: none).
    func withLiveness() throws -> [(id: String, service: String, lastSeen: Millis, livenessState: String?)]

    /// Whether an agent with this id has reported before.
    func isKnown(_ agentID: String) throws -> Bool

    /// A report from an agent whose identity is unchanged: only the liveness columns move.
    func touch(_ agentID: String, seenAt: Millis, clockSkewMs: Millis) throws

    /// Records the agent's identity as its report states it (and what its token binds it to).
    func upsert(
        _ agent: AgentIdentity, labels: String, bootID: String?, seenAt: Millis, clockSkewMs: Millis, boundService: String?, boundLabels: String?)
        throws

    /// Counts observations refused because the agent does not own their fact.
    func addRefused(_ agentID: String, _ count: Int) throws

    /// Counts observations whose time was corrected for, or refused by, the agent's clock.
    func addClockCounts(_ agentID: String, corrected: Int, refused: Int) throws

    /// How many agents token `tokenID` brought after `since`.
    func broughtCount(byToken tokenID: String, after since: Millis) throws -> Int

    /// When the `offset`-th (from 0, oldest first) agent token `tokenID` brought after `since` first reported.
    func broughtFirstSeen(byToken tokenID: String, after since: Millis, offset: Int) throws -> Millis?

    /// Notes the fleet token that brought a new agent id.
    func recordBringer(_ agentID: String, tokenID: String) throws

    /// The stream the agent's commands go to, with its spool and when it last reported; nil for
    /// an unknown agent, nil fields when it has no bound stream.
    func boundStream(of agentID: String) throws -> (id: Int64?, spoolID: String?, lastSeen: Millis?)?

    /// The agent's commands go to `streamID` from now on.
    func bindCommands(_ agentID: String, to streamID: Int64) throws
}
