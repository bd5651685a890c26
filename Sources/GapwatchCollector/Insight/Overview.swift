import GRDB
import GapwatchProtocol

extension CollectorRuntime {
    public func overview(now: Millis) throws -> SystemOverview {
        let (agents, checks, openByRule, actionsByState) = try database.pool.read { db in
            let agents = try AgentTable(db: db).withLiveness().map {
                SystemOverview.AgentLine(id: $0.id, service: $0.service, lastSeen: $0.lastSeen, state: $0.livenessState ?? "unknown")
            }
            func counts(_ sql: String) throws -> [String: Int] {
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: sql).map { ($0[0] as String, $0[1] as Int) })
            }
            return (
                agents, try CheckStore(db: db).countByState(), try IncidentStore.Reader(db: db).openCountByRule(),
                try ActionTable(db: db).countByState(in: ActionState.inFlight)
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
