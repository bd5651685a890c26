import GapwatchProtocol
import GapwatchRules

/// Facts have owners: a scheduler's jobs (and their probes), a lock, a dataset's counts and the
/// pings of a configured check may be reported only by the agents entitled to them. The config's
/// `owners:` decides first; where it is silent, the first agent that reported a fact owns it until
/// an admin reassigns it (`gapwatch owners reassign`). Anything else is refused per observation,
/// counted on the agent and listed in the report's response.
enum FactOwners {
    /// Refused facts remembered per agent (`refused_claims`); later ones are only counted.
    static let maxRefusedFactsPerAgent = 20
}

/// The fact an observation states, and how ownership applies to it.
struct StatedFact: Equatable {
    enum Mode: Equatable {
        /// Owned: the first reporter claims it (an inventory's job, a lock, a dataset's count, a ping
        /// feeding an unfiltered check).
        case claims
        /// Owned, but never claimed by this kind (a probe of a job): a fact nobody owns yet has no
        /// state to change.
        case ownerOnly
        /// Only the config's owners apply: a ping whose every check filters its agents by service or
        /// labels, which are themselves bound on tokens or in the config.
        case configOnly
    }
    var fact: String
    var mode: Mode
    /// The observation's field that names the fact (for the refusal's `field`).
    var field: String
}

/// What ownership says about one observation.
enum OwnershipVerdict: Equatable {
    case accept
    /// Accept, and record the reporter as the fact's owner: nobody owned it.
    case claim
    /// Refuse: only `entitled` (for people) may report it.
    case refuse(entitled: String)
}

extension OwnershipConfig {
    /// Judges `agentID` (with its token's and the config's `binding`) stating `stated`; `owner`
    /// looks up the fact's recorded owner, asked only where the config is silent.
    func judge(_ stated: StatedFact, agentID: String, binding: AgentBinding, owner: () throws -> String?) rethrows -> OwnershipVerdict {
        let covering = rules(covering: stated.fact)
        if !covering.isEmpty {
            if covering.contains(where: { $0.admits(agentID: agentID, binding: binding) }) { return .accept }
            return .refuse(entitled: covering.map(\.described).joined(separator: " or ") + " (owners: in the collector config)")
        }
        if stated.mode == .configOnly { return .accept }
        guard let current = try owner() else { return stated.mode == .claims ? .claim : .accept }
        return current == agentID ? .accept : .refuse(entitled: "agent \(current) (its owner; gapwatch owners reassign moves it)")
    }
}

/// Why a reassignment was not made.
public enum ReassignError: Error, Equatable {
    case badFact(String)
    case boundByConfig(String)
}

extension AppDatabase {
    /// Owned facts matching the glob `fact` (all when nil) and refused claims, most recent first.
    public func owners(fact: String? = nil, agentID: String? = nil, limit: Int = 1000) throws -> (
        owners: [FactOwnerInfo], refused: [RefusedClaimInfo]
    ) {
        try read { tx in
            let table = tx.factOwners
            return (
                try table.owners(matching: fact, agentID: agentID, limit: limit), try table.refused(matching: fact, agentID: agentID, limit: limit)
            )
        }
    }

    /// Makes `agentID` the owner of `fact` (an admin's decision): its reports of the fact are
    /// accepted from now on, the previous owner's refused. A fact the config's `owners:` covers
    /// is the config's to change.
    public func reassignOwner(fact: String, to agentID: String, by tokenID: String, config: OwnershipConfig, now: Millis) throws -> FactOwnerInfo {
        let kind = fact.prefix { $0 != ":" }
        guard OwnershipConfig.factKinds.contains(String(kind)), fact.count > kind.count + 1,
            !fact.unicodeScalars.contains(where: { $0 == "*" || $0 == "?" || $0.value < 0x20 })
        else {
            throw ReassignError.badFact(
                "'\(fact)' is not one fact: KIND:NAME with KIND one of \(OwnershipConfig.factKinds.joined(separator: ", ")), no glob or control character"
            )
        }
        let covering = config.rules(covering: fact)
        guard covering.isEmpty else {
            throw ReassignError.boundByConfig(
                "\(fact) is bound by the collector config's owners: to \(covering.map(\.described).joined(separator: " or ")); change the config instead"
            )
        }
        return try write { tx in
            try tx.factOwners.assign(fact, to: agentID, by: tokenID, at: now)
            return FactOwnerInfo(fact: fact, agentID: agentID, since: now, assignedBy: tokenID)
        }
    }
}
