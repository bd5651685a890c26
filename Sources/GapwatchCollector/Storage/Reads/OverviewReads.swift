import GapwatchProtocol

/// The counts of the overview, read in one snapshot.
struct OverviewCounts: Sendable {
    var agents: [SystemOverview.AgentLine]
    var checksByState: [String: Int]
    var openIncidentsByRule: [String: Int]
    /// Only the states asked for (those in flight).
    var actionsInFlightByState: [String: Int]
}

/// What a subject's story links to besides its own observations.
struct StoryMentions: Sendable, Equatable {
    /// Incidents about the subject or naming it in a label, by id.
    var incidentIDs: [Int64]
    /// Actions serving those incidents or naming the subject in their key or parameters, oldest first.
    var actionIDs: [String]
}

/// An action found by its key.
struct KeyedAction: Sendable, Equatable {
    var id: String
    var key: String
    var state: String
}

/// The reads of the overview, incident, action, story and scheduler pages and endpoints, each in
/// its own read transaction, composed from the protocol-typed stores (engine-neutral).
extension AppDatabase {
    /// The agents with their liveness, checks by state, open incidents by rule, and the actions in
    /// `inFlight` states by state.
    func overviewCounts<S: StateColumnValue>(actionsIn inFlight: [S]) throws -> OverviewCounts {
        try read { tx in
            OverviewCounts(
                agents: try tx.agents.withLiveness().map {
                    SystemOverview.AgentLine(id: $0.id, service: $0.service, lastSeen: $0.lastSeen, state: $0.livenessState ?? "unknown")
                },
                checksByState: try tx.checks.countByState(), openIncidentsByRule: try tx.incidentReads.openCountByRule(),
                actionsInFlightByState: try tx.actions.countByState(in: inFlight))
        }
    }

    /// How many incidents there are (in `state` when given).
    func incidentCount(state: String?) throws -> Int {
        try read { tx in try tx.incidentReads.count(state: state) }
    }

    /// How many actions are in each state.
    func actionCountsByState() throws -> [String: Int] {
        try read { tx in try tx.actions.countByState() }
    }

    /// The actions in `states` whose key starts with `prefix`.
    func actions<S: StateColumnValue>(keyPrefix prefix: String, in states: [S]) throws -> [KeyedAction] {
        try read { tx in
            try tx.actions.withKeyPrefix(prefix, in: states).map { KeyedAction(id: $0.id, key: $0.key, state: $0.state) }
        }
    }

    /// The incidents (at most 100) and actions about `subject` alive during [from, to); `bareName`
    /// is the subject without its type prefix, as labels, keys and parameters name it.
    func storyMentions(subject: String, bareName: String, from: Millis, to: Millis) throws -> StoryMentions {
        try read { tx in
            let incidents = try tx.incidentReads.mentioning(subject: subject, bareName: bareName, from: from, to: to, limit: 100)
            let actions = try tx.actions.touching(incidents: incidents, key: subject, bare: bareName, from: from, to: to)
            return StoryMentions(incidentIDs: incidents, actionIDs: actions)
        }
    }

    /// Every scheduler job seen, missing ones too.
    func schedulerJobs() throws -> [JobRow] {
        try read { tx in try tx.jobs.jobs(presentOnly: false) }
    }

    /// Every lock seen, as last reported.
    func lockSightings() throws -> [LockRow] {
        try read { tx in try tx.jobs.locks() }
    }
}
