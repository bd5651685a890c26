import GapwatchProtocol
import GapwatchRules

// Here, not in Auth/: which fact a ping states depends on the configured checks (routing).
extension ObservationBody {
    /// The owned fact this observation states; nil for kinds no one owns (an item status, a
    /// decision, the agent's own records) and for pings that feed no configured check.
    func statedFact(routing: CheckRouting) -> StatedFact? {
        switch self {
        case .job(let job): return StatedFact(fact: "job:\(job.name)", mode: .claims, field: "name")
        case .probe(let probe): return probe.job.map { StatedFact(fact: "job:\($0)", mode: .ownerOnly, field: "job") }
        case .lock(let lock): return StatedFact(fact: "lock:\(lock.name)", mode: .claims, field: "name")
        case .count(let count): return StatedFact(fact: "dataset:\(count.dataset)", mode: .claims, field: "dataset")
        case .heartbeat(let ping):
            guard let targets = routing.pings[ping.name] else { return nil }
            return StatedFact(fact: "ping:\(ping.name)", mode: targets.allSatisfy(\.filtersAgents) ? .configOnly : .claims, field: "name")
        case .itemStatus, .decision, .actionResult, .dropped: return nil
        }
    }
}
