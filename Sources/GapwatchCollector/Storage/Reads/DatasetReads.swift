import GapwatchProtocol

/// One count a dataset reported for one partition: what the story of a partition lists.
struct DatasetCountSighting: Sendable, Equatable {
    var observedAt: Millis
    var count: Int64
    var agentID: String
}

/// One decision (RUN, SKIP, FAIL…) a workflow reported.
struct WorkflowDecisionLine: Sendable, Equatable {
    var at: Millis
    /// `workflow:NAME`.
    var subject: String
    var decision: String
    var reason: String?
    var agentID: String
}

/// Observation reads the dashboard's story and workflow pages need beyond the timeline.
protocol DatasetReads {
    /// The count observations of one dataset partition, newest first.
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [DatasetCountSighting]
    /// The newest decisions of every workflow since `since`, newest first, at most `limit`.
    func latestWorkflowDecisions(since: Millis, limit: Int) throws -> [WorkflowDecisionLine]
}

extension AppDatabase {
    func partitionCounts(subject: String, partition: String, limit: Int) throws -> [DatasetCountSighting] {
        try read { tx in try tx.datasetReads.partitionCounts(subject: subject, partition: partition, limit: limit) }
    }

    func latestWorkflowDecisions(since: Millis, limit: Int) throws -> [WorkflowDecisionLine] {
        try read { tx in try tx.datasetReads.latestWorkflowDecisions(since: since, limit: limit) }
    }
}
