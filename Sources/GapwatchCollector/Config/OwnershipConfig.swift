import GapwatchProtocol
import GapwatchRules

/// What the collector vouches for about an agent: its service and labels, bound on its token or
/// in the config (`agents:`), never taken from its reports. Check filters and owner rules match
/// these alone.
public struct AgentBinding: Sendable, Equatable {
    public var service: String?
    public var labels: [String: String] = [:]

    public init(service: String? = nil, labels: [String: String] = [:]) {
        self.service = service
        self.labels = labels
    }

    /// Whether this binding has `service` (when given) and carries every label of `labels`.
    func matches(service wanted: String?, labels wantedLabels: [String: String]) -> Bool {
        if let wanted, wanted != service { return false }
        return wantedLabels.allSatisfy { labels[$0.key] == $0.value }
    }
}

/// Who may report the facts matching `facts` (`owners:`): the agents named in `agents`, and the
/// agents whose binding has `service` and every label of `labels` (when either is given).
public struct OwnerRule: Sendable, Equatable {
    /// Fact globs: `job:NAME`, `lock:NAME`, `dataset:NAME`, `ping:NAME` (`*` any run, `?` one character).
    public var facts: [String]
    public var agents: [String] = []
    public var service: String?
    public var labels: [String: String] = [:]

    public init(facts: [String], agents: [String] = [], service: String? = nil, labels: [String: String] = [:]) {
        self.facts = facts
        self.agents = agents
        self.service = service
        self.labels = labels
    }

    func covers(_ fact: String) -> Bool { facts.contains { globMatch($0, fact) } }

    func admits(agentID: String, binding: AgentBinding) -> Bool {
        if agents.contains(agentID) { return true }
        guard service != nil || !labels.isEmpty else { return false }
        return binding.matches(service: service, labels: labels)
    }

    /// "agents a, b or service=x,role=y", for refusals.
    var described: String {
        var parts: [String] = []
        if !agents.isEmpty { parts.append("agent \(agents.joined(separator: " or "))") }
        var selector = service.map { ["service=\($0)"] } ?? []
        selector += labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if !selector.isEmpty { parts.append("agents bound to " + selector.joined(separator: ",")) }
        return parts.joined(separator: " or ")
    }
}

/// The collector config's `agents:` (service and labels vouched for per agent id) and `owners:`
/// (who may report which facts).
public struct OwnershipConfig: Sendable {
    public var agents: [String: AgentBinding] = [:]
    public var rules: [OwnerRule] = []

    public init() {}

    /// The kinds of fact an owner rule may name.
    static let factKinds = ["job", "lock", "dataset", "ping"]

    /// The owner rules whose facts include `fact`; empty: the config is silent about it.
    func rules(covering fact: String) -> [OwnerRule] { rules.filter { $0.covers(fact) } }

    mutating func parse(_ reader: inout MapReader) throws(ConfigError) {
        if let list = try reader.list("agents") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "agents[\(i)]")
                guard let id = try m.string("id") else { throw ConfigError("agents[\(i)].id: required, the agent id these apply to") }
                if let problem = AgentIdentity.problem(withID: id) { throw ConfigError("agents[\(i)].id: \(problem)") }
                guard agents[id] == nil else { throw ConfigError("agents[\(i)].id: '\(id)' is defined twice") }
                let binding = AgentBinding(service: try m.string("service"), labels: try m.stringMap("labels") ?? [:])
                guard binding.service != nil || !binding.labels.isEmpty else {
                    throw ConfigError("agents[\(i)]: give service or labels (what the collector vouches for about '\(id)')")
                }
                try m.finish()
                agents[id] = binding
            }
        }
        if let list = try reader.list("owners") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "owners[\(i)]")
                guard let facts = try m.stringList("facts"), !facts.isEmpty else {
                    throw ConfigError(
                        "owners[\(i)].facts: required, fact globs such as job:nightly-*, lock:workflow_*, dataset:nba_raw.*, ping:backup")
                }
                for (j, fact) in facts.enumerated() {
                    let kind = fact.prefix { $0 != ":" }
                    guard Self.factKinds.contains(String(kind)), fact.count > kind.count + 1 else {
                        throw ConfigError(
                            "owners[\(i)].facts[\(j)]: '\(fact)' is not KIND:NAME with KIND one of \(Self.factKinds.joined(separator: ", "))")
                    }
                }
                let rule = OwnerRule(
                    facts: facts, agents: try m.stringList("agents") ?? [], service: try m.string("service"), labels: try m.stringMap("labels") ?? [:]
                )
                for agent in rule.agents {
                    if let problem = AgentIdentity.problem(withID: agent) { throw ConfigError("owners[\(i)].agents: '\(agent)': \(problem)") }
                }
                guard !rule.agents.isEmpty || rule.service != nil || !rule.labels.isEmpty else {
                    throw ConfigError("owners[\(i)]: give agents, service or labels (who may report these facts)")
                }
                try m.finish()
                rules.append(rule)
            }
        }
    }
}
