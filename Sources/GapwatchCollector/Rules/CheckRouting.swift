import GapwatchProtocol
import GapwatchRules

/// Which checks a stored observation feeds, handed to the ingest writer so the hot path updates
/// check facts without looking anything up. Built by the rule kinds (`RuleKind.route`) when the
/// config is synced.
struct CheckRouting: Sendable {
    struct PingTarget: Sendable {
        var checkID: Int64
        var service: String?
        var agentLabels: [String: String]
        /// Matched against what the agent's token or the config vouches for, never against the
        /// service and labels its report claims: a claim would satisfy any filter.
        func accepts(_ binding: AgentBinding) -> Bool { binding.matches(service: service, labels: agentLabels) }
        /// Whether only some agents may feed the check.
        var filtersAgents: Bool { service != nil || !agentLabels.isEmpty }
    }

    /// An observation that makes checks due once it is stored.
    enum Trigger: Hashable, Sendable {
        /// A RUN decision of the workflow.
        case run(workflow: String)
        /// A count of the dataset.
        case count(dataset: String)
        /// A status of an item of this kind.
        case itemStatus(itemKind: String)
        /// A scheduler inventory entry, or a target's health crossing a threshold (see
        /// `crossesTargetThreshold`).
        case jobs
        /// A lock sighting.
        case lock
    }

    var livenessEnabled = false
    /// Ping name → checks listening to it.
    var pings: [String: [PingTarget]] = [:]
    /// What makes which checks due.
    var due: [Trigger: [Int64]] = [:]
    /// Failures in a row of a job's target that open its incident, and successes that re-enable
    /// its jobs: a probe crossing one makes the `.jobs` checks due.
    var jobFailures = Int.max
    var jobReenableAfter = Int.max
    /// A probe's failed runs in a row that open its incident; 0: probe checks are off.
    var probeFailuresAfter = 0
    /// How far an observation may be dated after its receive time (`clock_skew.tolerance`).
    var clockToleranceMs = ClockSkewConfig.defaultToleranceMs
    /// Whether agents whose clocks are off get a clock check (`clock_skew.incidents`).
    var clockChecks = false

    mutating func route(_ trigger: Trigger, to checkID: Int64) {
        due[trigger, default: []].append(checkID)
    }

    /// The checks an observation of this trigger makes due.
    func checks(for trigger: Trigger) -> [Int64]? { due[trigger] }

    /// Whether a target's health (failures or successes in a row) just crossed a threshold that
    /// the job checks act on: re-judged then, not on every probe.
    func crossesTargetThreshold(failures: Int, successes: Int) -> Bool {
        failures == jobFailures || successes == 1 || successes == jobReenableAfter
    }
}
