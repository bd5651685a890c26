import GapwatchProtocol

/// The `fact_owners` table and refused claims.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol FactOwnerTable {
    /// The agent that owns `fact`; nil when nobody does yet.
    func owner(of fact: String) throws -> String?

    /// Records `agentID` as the owner of `fact` unless someone already owns it.
    func claim(_ fact: String, by agentID: String, at now: Millis) throws

    /// An admin makes `agentID` the owner of `fact`.
    func assign(_ fact: String, to agentID: String, by tokenID: String, at now: Millis) throws

    /// Counts a refusal of `fact` to `agentID`: the agent's first `maxFactsPerAgent` refused facts
    /// keep a row each, later ones are not recorded here.
    func tallyRefusal(agentID: String, fact: String, entitled: String, seq: Int64, at now: Millis, maxFactsPerAgent: Int) throws

    /// Owned facts matching the glob `fact` (all when nil) of `agentID` (any when nil), by fact.
    func owners(matching fact: String?, agentID: String?, limit: Int) throws -> [FactOwnerInfo]

    /// Refused claims matching the glob `fact` of `agentID`, most recent first.
    func refused(matching fact: String?, agentID: String?, limit: Int) throws -> [RefusedClaimInfo]
}
