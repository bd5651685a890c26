import GRDB
import GapwatchProtocol

/// The whole system on one screen: `GET /v1/overview`, `gapwatch status`, the dashboard's front page.
public struct SystemOverview: Codable, Sendable, Equatable {
    public struct AgentLine: Codable, Sendable, Equatable {
        public var id: String
        public var service: String
        public var lastSeen: Millis
        /// up, down or new (its liveness check's state), unknown when liveness is off.
        public var state: String

        enum CodingKeys: String, CodingKey {
            case id, service, state
            case lastSeen = "last_seen"
        }
    }

    public var generatedAt: Millis
    public var agents: [AgentLine]
    /// Checks by state (up, down, new, paused).
    public var checks: [String: Int]
    /// Open incidents, newest first (at most 20), and how many are open by rule.
    public var openIncidents: [IncidentInfo]
    public var openByRule: [String: Int]
    /// Actions pending, awaiting approval, running or verifying (at most 20, newest first), and how many by state.
    public var actionsInFlight: [ActionInfo]
    public var actionsByState: [String: Int]
    /// Scheduler jobs: how many, disabled, disabled by Gapwatch, on a failing target.
    public var jobs: Int
    public var jobsDisabled: Int
    public var jobsDisabledByGapwatch: Int
    public var jobsTargetFailing: Int
    public var stuckLocks: [LockInfo]

    enum CodingKeys: String, CodingKey {
        case agents, checks, jobs
        case generatedAt = "generated_at"
        case openIncidents = "open_incidents"
        case openByRule = "open_by_rule"
        case actionsInFlight = "actions_in_flight"
        case actionsByState = "actions_by_state"
        case jobsDisabled = "jobs_disabled"
        case jobsDisabledByGapwatch = "jobs_disabled_by_gapwatch"
        case jobsTargetFailing = "jobs_target_failing"
        case stuckLocks = "stuck_locks"
    }
}

extension CollectorRuntime {
    public func overview(now: Millis) throws -> SystemOverview {
        let (agents, checks, openByRule, actionsByState) = try database.pool.read { db in
            let agents = try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id, a.service, a.last_seen, c.state FROM agents a LEFT JOIN checks c ON c.name = 'agent:' || a.id AND c.kind = 'liveness'
                    WHERE a.id != '@collector' ORDER BY a.id
                    """
            ).map { row in
                SystemOverview.AgentLine(id: row["id"], service: row["service"], lastSeen: row["last_seen"], state: row["state"] ?? "unknown")
            }
            func counts(_ sql: String) throws -> [String: Int] {
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: sql).map { ($0[0] as String, $0[1] as Int) })
            }
            return (
                agents, try counts("SELECT state, COUNT(*) FROM checks GROUP BY state"),
                try counts("SELECT rule, COUNT(*) FROM incidents WHERE state = 'open' GROUP BY rule"),
                try counts("SELECT state, COUNT(*) FROM actions WHERE \(ActionState.inFlightCondition()) GROUP BY state")
            )
        }
        var incidentFilter = IncidentFilter()
        incidentFilter.state = "open"
        incidentFilter.limit = 20
        var inFlight: [ActionInfo] = []
        for state in [ActionState.running, .verifying, .awaitingApproval, .pending].map(\.rawValue) where actionsByState[state] != nil {
            var filter = ActionFilter()
            filter.state = state
            filter.limit = 20
            inFlight += try database.actions(filter)
        }
        let jobs = try auditJobs(now: now)
        return SystemOverview(
            generatedAt: now, agents: agents, checks: checks, openIncidents: try database.incidents(incidentFilter), openByRule: openByRule,
            actionsInFlight: Array(inFlight.sorted { $0.createdAt > $1.createdAt }.prefix(20)), actionsByState: actionsByState,
            jobs: jobs.count, jobsDisabled: jobs.filter { !$0.enabled }.count, jobsDisabledByGapwatch: jobs.filter(\.disabledByGapwatch).count,
            jobsTargetFailing: jobs.filter { $0.targetHealth == "failing" }.count, stuckLocks: try locks(now: now).filter { $0.state == "stuck" })
    }
}
