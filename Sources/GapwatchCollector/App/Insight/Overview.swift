import GapwatchProtocol

extension CollectorRuntime {
    public func overview(now: Millis) throws -> SystemOverview {
        let counts = try database.overviewCounts(actionsIn: ActionState.inFlight)
        let actionsByState = counts.actionsInFlightByState
        var incidentFilter = IncidentFilter()
        incidentFilter.state = IncidentState.open.rawValue
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
            generatedAt: now, agents: counts.agents, checks: counts.checksByState, openIncidents: try database.incidents(incidentFilter),
            openByRule: counts.openIncidentsByRule,
            actionsInFlight: Array(inFlight.sorted { $0.createdAt > $1.createdAt }.prefix(20)), actionsByState: actionsByState,
            jobs: jobs.count, jobsDisabled: jobs.filter { !$0.enabled }.count, jobsDisabledByGapwatch: jobs.filter(\.disabledByGapwatch).count,
            jobsTargetFailing: jobs.filter { $0.targetHealth == "failing" }.count, stuckLocks: try locks(now: now).filter { $0.state == "stuck" })
    }
}
