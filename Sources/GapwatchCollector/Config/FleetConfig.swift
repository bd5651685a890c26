import GapwatchProtocol

/// How far the collector trusts a shared (fleet) token (`fleet:` in the collector config).
///
/// A fleet token may report as any agent id, so the agent id alone proves nothing: an agent's
/// commands go to the stream (spool) its id is bound to, and a fleet token brings new agent ids at
/// a bounded rate. See README "Security" and protocol/README.md "Streams and commands".
public struct FleetConfig: Sendable, Equatable {
    /// New agent ids one fleet token may bring in any hour; more are refused with 429 (and retried
    /// by the agent). 0: a fleet token may report only for ids that already exist.
    public var newAgentsPerHour = 100
    /// A fleet-token report from a stream other than the agent's bound one takes over the agent's
    /// commands once the bound stream has sent nothing for this long.
    public var rebindAfterMs: Millis = 600_000

    public init() {}

    mutating func parse(_ reader: inout MapReader) throws(ConfigError) {
        guard var m = try reader.map("fleet") else { return }
        newAgentsPerHour = try m.int("new_agents_per_hour", allowZero: true) ?? newAgentsPerHour
        rebindAfterMs = try m.duration("rebind_after") ?? rebindAfterMs
        try m.finish()
    }
}
