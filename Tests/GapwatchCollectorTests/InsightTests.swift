import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import XCTest

/// The insight API (overview, gaps, stale items, a subject's story, timeline filters) over real
/// HTTP against a real SQLite file.
final class InsightTests: XCTestCase {
    var collector: TestCollector!
    var now: Millis = 0
    var seq: UInt64 = 0

    override func setUp() async throws {
        collector = try await TestCollector.start { config in
            config.remediation = try! CollectorConfig.parse(
                yaml: """
                    completeness:
                      - {name: boxscores, source: raw, derived: analytics, due_after: 0s, lookback: 3d, settle: 0s, expected_from: schedule, backfill: backfill}
                    stale_items:
                      - {name: games-final, item_kind: game, final: [Final], deadline: 4h}
                    actions:
                      - {name: backfill, kind: webhook, url: "http://127.0.0.1:9/backfill", mode: approval}
                    """
            ).remediation
        }
        now = WallClock.nowMillis()
    }

    override func tearDown() {
        collector.stop()
    }

    func day(_ ago: Int) -> String { String(TimeParsing.format(now - Millis(ago) * 86_400_000).prefix(10)) }

    func report(_ bodies: [ObservationBody], agent: String = "agent-1", service: String = "svc", labels: [String: String] = [:], at: Millis? = nil)
        async throws
    {
        let at = at ?? now
        let observations = bodies.map { body -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: body)
        }
        let report = Report(
            agent: AgentIdentity(id: agent, service: service, host: "h", version: "1", labels: labels), bootID: "b", spoolID: "s-\(agent)",
            sentAt: at, observations: observations)
        _ = try await collector.runtime.writer.ingest(report, receivedAt: at)
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let r = try await collector.send("GET", path, token: collector.adminToken)
        XCTAssertEqual(r.status, 200, r.bodyText)
        return try ReportCodec.decode(T.self, from: r.body)
    }

    func count(_ dataset: String, _ partition: String, _ n: Int64) -> ObservationBody {
        .count(Count(dataset: dataset, partition: partition, count: n))
    }

    func testGapsShowEachDateWithItsStateAndTheActionHealingIt() async throws {
        try await report(
            [
                count("raw", day(2), 282), count("raw", day(1), 300), count("raw", day(0), 310),
                count("analytics", day(1), 255), count("analytics", day(0), 310), count("schedule", day(3), 9),
            ], at: now - 60_000)
        _ = try collector.runtime.detector.evaluateDue(now: now)
        let action = try XCTUnwrap(try collector.database.actions(ActionFilter()).first, "the rule queued a backfill (awaiting approval)")
        let report = try await get(GapReport.self, "/v1/gaps?days=4")
        let check = try XCTUnwrap(report.checks.first)
        XCTAssertEqual(check.name, "boxscores")
        XCTAssertEqual(check.days.map(\.date), [day(3), day(2), day(1), day(0)])
        XCTAssertEqual(
            check.days.map(\.state), ["gap", "healing", "healing", "not_due"],
            "day(3): scheduled, no source rows; day(2)..day(1): queued; day(0): today, still filling, never judged")
        XCTAssertGreaterThan(check.days[3].dueAt, now, "today is due after it ends")
        XCTAssertEqual(check.days[1].sourceCount, 282)
        XCTAssertNil(check.days[1].derivedCount)
        XCTAssertEqual(check.days[1].gap, 282)
        XCTAssertEqual(check.days[2].ratio ?? 0, 0.85, accuracy: 0.0001)
        XCTAssertEqual(check.days[2].actionID, action.id)
        XCTAssertNil(check.days[3].actionID)
        for (path, status, field) in [
            ("/v1/gaps?days=0", 400, "days"), ("/v1/gaps?days=400", 400, "days"), ("/v1/gaps?check=nope", 404, nil),
            ("/v1/gaps?dayz=3", 400, "dayz"),
        ] {
            let r = try await collector.send("GET", path, token: collector.adminToken)
            XCTAssertEqual(r.status, status, path)
            if let field { XCTAssertEqual(try decodeError(r).field, field, path) }
        }
        let r = try await collector.send("GET", "/v1/gaps?check=nope", token: collector.adminToken)
        XCTAssertEqual(try decodeError(r).message, "no completeness rule named 'nope'; configured: boxscores")
        let anonymous = try await collector.send("GET", "/v1/gaps", token: nil)
        XCTAssertEqual(anonymous.status, 401)
    }

    func testStaleItemsArePastTheirDeadlineAndNotFinal() async throws {
        let hour: Millis = 3_600_000
        try await report(
            [
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500610", status: "In Progress", referenceTime: now - 5 * hour)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500611", status: "Final", referenceTime: now - 5 * hour)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500612", status: "In Progress", referenceTime: now - 2 * hour)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022400001", status: "In Progress", referenceTime: now - 10 * 24 * hour)),
            ])
        struct Response: Decodable { var items: [StaleItemInfo] }
        let items = try await get(Response.self, "/v1/stale?days=3").items
        XCTAssertEqual(items.map(\.itemID), ["0022500610"], "final, within its deadline, or older than --days: not listed")
        XCTAssertEqual(items.first?.deadline, now - hour)
        let month = try await get(Response.self, "/v1/stale?days=30").items
        XCTAssertEqual(month.map(\.itemID), ["0022400001", "0022500610"])
    }

    func testOverviewCountsWhatIsOpenAndInFlight() async throws {
        try await report([count("raw", day(1), 300)], agent: "scrapers-1", at: now - 60_000)
        _ = try collector.runtime.detector.evaluateDue(now: now)
        let o = try await get(SystemOverview.self, "/v1/overview")
        XCTAssertEqual(o.agents.map(\.id), ["scrapers-1"])
        XCTAssertEqual(o.openByRule, ["completeness": 1])
        XCTAssertEqual(o.openIncidents.map(\.subject), ["completeness:boxscores:backfill"])
        // Pending until the collector's own action loop moves it to awaiting_approval (mode: approval).
        XCTAssertEqual(o.actionsByState.values.reduce(0, +), 1)
        XCTAssertTrue(["pending", "awaiting_approval"].contains(o.actionsByState.keys.first ?? ""), "\(o.actionsByState)")
        XCTAssertEqual(o.actionsInFlight.count, 1)
        XCTAssertEqual(o.jobs, 0)
        XCTAssertEqual(o.stuckLocks, [])
    }

    func testTheStoryOfADatasetHasItsIncidentAndActionInline() async throws {
        try await report([count("analytics", day(1), 255), count("raw", day(1), 300)], at: now - 60_000)
        _ = try collector.runtime.detector.evaluateDue(now: now)
        let story = try await get(SubjectStory.self, "/v1/story?subject=dataset:analytics")
        XCTAssertEqual(story.entries.map(\.source), ["observation", "incident", "action"], "\(story.entries)")
        XCTAssertTrue(story.entries[1].text?.contains("completeness:boxscores:backfill) opened") ?? false, story.entries[1].text ?? "")
        XCTAssertTrue(story.entries[2].text?.contains("queued backfill") ?? false, story.entries[2].text ?? "")
        XCTAssertEqual(story.entries.map(\.at), story.entries.map(\.at).sorted())
        let r = try await collector.send("GET", "/v1/story", token: collector.adminToken)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(try decodeError(r).field, "subject")
        let reversed = try await collector.send("GET", "/v1/story?subject=x&from=2026-01-23&to=2026-01-22", token: collector.adminToken)
        XCTAssertEqual(try decodeError(reversed).message, "the range is reversed: from (1769126400000) is after to (1769040000000)")
    }

    func testTimelineFiltersBySubjectGlobServiceAndLabel() async throws {
        let decision = { (w: String) in ObservationBody.decision(WorkflowDecision(workflow: w, decision: .skip, reason: "games not final")) }
        try await report(
            [decision("post_game_window_1"), decision("post_game_window_2"), decision("morning_ops")], agent: "orch", service: "orchestrator",
            labels: ["env": "prod"])
        try await report([decision("post_game_window_3")], agent: "orch-dev", service: "orchestrator", labels: ["env": "dev"])
        func subjects(_ query: String) async throws -> [String] {
            try await get(TimelinePage.self, "/v1/timeline?" + query).observations.map(\.subject)
        }
        let all = try await subjects("subject=workflow:post_game*")
        XCTAssertEqual(Set(all), ["workflow:post_game_window_1", "workflow:post_game_window_2", "workflow:post_game_window_3"])
        let prod = try await subjects("subject=workflow:post_game*&label=env=prod")
        XCTAssertEqual(Set(prod), ["workflow:post_game_window_1", "workflow:post_game_window_2"])
        let dev = try await subjects("service=orchestrator&label=env=dev")
        XCTAssertEqual(dev, ["workflow:post_game_window_3"])
        let nobody = try await subjects("service=nobody")
        XCTAssertEqual(nobody, [])
        let bracket = try await subjects("subject=workflow:post_game_window_%5B12%5D")
        XCTAssertEqual(bracket, [], "[ is literal in subject globs")
        let r = try await collector.send("GET", "/v1/timeline?label=env", token: collector.adminToken)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(try decodeError(r).message, "label: 'env' is not KEY=VALUE (e.g. label=env=prod)")
    }
}
