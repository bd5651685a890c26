import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

/// The read stores under `Storage/Reads/` on a real SQLite file: each returns records of exactly
/// the rows its name says, so the dashboard and the API read through them without SQL of their own.
final class ReadStoreTests: XCTestCase {
    var collector: TestCollector!
    let now: Millis = WallClock.nowMillis()
    var seq: UInt64 = 0

    override func setUp() async throws {
        collector = try await TestCollector.start()
    }

    override func tearDown() {
        collector.stop()
    }

    func report(_ bodies: [(Millis, ObservationBody)], agent: String = "agent-1") async throws {
        let observations = bodies.map { at, body -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: body)
        }
        let report = Report(
            agent: AgentIdentity(id: agent, service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s-\(agent)",
            sentAt: now, observations: observations)
        _ = try await collector.runtime.writer.ingest(report, receivedAt: now)
    }

    func testPartitionCountsAreOneDatasetsCountsOfOnePartitionNewestFirst() async throws {
        try await report([
            (now - 3000, .count(Count(dataset: "raw", partition: "2026-01-22", count: 10))),
            (now - 2000, .count(Count(dataset: "raw", partition: "2026-01-23", count: 99))),
            (now - 1000, .count(Count(dataset: "other", partition: "2026-01-22", count: 7))),
            (now - 500, .count(Count(dataset: "raw", partition: "2026-01-22", count: 12))),
        ])
        let counts = try collector.database.partitionCounts(subject: "dataset:raw", partition: "2026-01-22", limit: 10)
        XCTAssertEqual(
            counts,
            [
                DatasetCountSighting(observedAt: now - 500, count: 12, agentID: "agent-1"),
                DatasetCountSighting(observedAt: now - 3000, count: 10, agentID: "agent-1"),
            ])
        XCTAssertEqual(try collector.database.partitionCounts(subject: "dataset:raw", partition: "2026-01-22", limit: 1).map(\.count), [12])
        XCTAssertEqual(try collector.database.partitionCounts(subject: "dataset:none", partition: "2026-01-22", limit: 10), [])
    }

    func testLatestWorkflowDecisionsAreEveryWorkflowsSinceNewestFirst() async throws {
        try await report([
            (now - 10_000, .decision(WorkflowDecision(workflow: "a", decision: .run))),
            (now - 3000, .decision(WorkflowDecision(workflow: "a", decision: .run))),
            (now - 2000, .decision(WorkflowDecision(workflow: "b", decision: .skip, reason: "no games"))),
            (now - 1000, .count(Count(dataset: "a", partition: "2026-01-22", count: 1))),
        ])
        let decisions = try collector.database.latestWorkflowDecisions(since: now - 5000, limit: 10)
        XCTAssertEqual(
            decisions,
            [
                WorkflowDecisionLine(at: now - 2000, subject: "workflow:b", decision: "SKIP", reason: "no games", agentID: "agent-1"),
                WorkflowDecisionLine(at: now - 3000, subject: "workflow:a", decision: "RUN", reason: nil, agentID: "agent-1"),
            ])
        XCTAssertEqual(try collector.database.latestWorkflowDecisions(since: 0, limit: 1).map(\.at), [now - 2000])
    }

    func testStoryMentionsAndCountsReadTheIncidentsAboutASubject() async throws {
        let opened = now - 1000
        let ids = try await collector.database.write { tx in
            let incidents = tx.incidents(notifyWaitMs: 0, hasChannels: false)
            let direct = try incidents.open(rule: "completeness", subject: "dataset:raw", reason: "r", labels: [:], feederAgent: nil, at: opened)
            let labelled = try incidents.open(
                rule: "freshness", subject: "freshness:x", reason: "r", labels: ["dataset": "raw"], feederAgent: nil, at: opened)
            _ = try incidents.open(
                rule: "freshness", subject: "freshness:y", reason: "r", labels: ["dataset": "other"], feederAgent: nil, at: opened)
            return [direct, labelled]
        }
        let mentions = try collector.database.storyMentions(subject: "dataset:raw", bareName: "raw", from: now - 5000, to: now)
        XCTAssertEqual(mentions, StoryMentions(incidentIDs: ids, actionIDs: []))
        let later = try collector.database.storyMentions(subject: "dataset:raw", bareName: "raw", from: now, to: now + 1)
        XCTAssertEqual(later.incidentIDs, ids, "still open")
        XCTAssertEqual(try collector.database.incidentCount(state: "open"), 3)
        XCTAssertEqual(try collector.database.incidentCount(state: "resolved"), 0)
        XCTAssertEqual(
            try collector.database.overviewCounts(actionsIn: ActionState.inFlight).openIncidentsByRule, ["completeness": 1, "freshness": 2])
        XCTAssertEqual(try collector.database.actionCountsByState(), [:])
        XCTAssertEqual(try collector.database.actions(keyPrefix: "lock:release:", in: ActionState.inFlight), [])
    }
}
