import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

final class TimelineAndTokenTests: XCTestCase {
    var collector: TestCollector!

    override func setUp() async throws {
        // The live-socket tests of the query API, the admin API and /healthz.
        collector = try await TestCollector.start(
            transport: transport(
                socketFor: "testTimelineReturnsEveryKindRoundTrippedInTimeOrder", "testAdminIssuesListsAndRevokesTokensAndRevocationIsImmediate",
                "testHealthzNeedsNoToken"))
    }

    override func tearDown() async throws {
        collector.stop()
    }

    func page(_ query: String) async throws -> TimelinePage {
        let response = try await collector.send("GET", "/v1/timeline?\(query)", token: collector.adminToken)
        XCTAssertEqual(response.status, 200, response.bodyText)
        return try ReportCodec.decode(TimelinePage.self, from: response.body)
    }

    func testTimelineReturnsEveryKindRoundTrippedInTimeOrder() async throws {
        let t = WallClock.nowMillis() - 60_000
        let bodies: [ObservationBody] = [
            .heartbeat(Heartbeat(name: "nightly", status: .fail, durationMs: 1200, exitCode: 3, message: "boom")),
            .probe(TargetProbe(job: "execute-workflows", target: "http://nba-phase1-scrapers/run", httpStatus: 404, latencyMs: 12, healthy: false)),
            .probe(TargetProbe(target: "http://x/health", error: "connection refused", latencyMs: 1, healthy: false)),
            .count(Count(dataset: "nba_analytics.player_game_summary", partition: "2026-01-22", count: 0)),
            .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500612/a", status: "In Progress", referenceTime: t - 3_600_000)),
            .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .skip, reason: "games not finished")),
            .lock(LockSighting(name: "workflow_controller", holder: "orchestrator-1", acquiredAt: t - 1000, expiresAt: t + 300_000)),
            .lock(LockSighting(name: "workflow_controller", holder: nil)),
            .actionResult(ActionResult(actionID: "act-1", outcome: .ok, exitCode: 0, outputTail: "done")),
            .dropped(DroppedRecords(overflow: 1, corrupt: 0)),
        ]
        let observations = bodies.enumerated().map { i, body in
            Observation(seq: UInt64(i + 1), observedAt: t + Int64(bodies.count - i) * 10, body: body)  // reverse time order
        }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "s", host: "h", version: "v"), bootID: "b", spoolID: "sp", sentAt: t,
            observations: observations)
        let posted = try await collector.post(report)
        XCTAssertEqual(posted.status, 200, posted.bodyText)
        let result = try await page("limit=100")
        XCTAssertEqual(result.observations.count, bodies.count)
        XCTAssertNil(result.nextCursor)
        XCTAssertEqual(result.observations.map(\.observation.observedAt), result.observations.map(\.observation.observedAt).sorted())
        XCTAssertEqual(Set(result.observations.map(\.observation)), Set(observations), "every field survives storage")
        XCTAssertTrue(result.observations.contains { $0.subject == "item:game/0022500612/a" })
        XCTAssertTrue(result.observations.contains { $0.subject == "agent:agent-1" })
    }

    func testTimelineFiltersBySubjectKindAgentAndRangeAndPagesWithACursor() async throws {
        // Two agents count the same dataset: the config must say both may.
        collector.stop()
        collector = try await TestCollector.start { $0.ownership.rules = [OwnerRule(facts: ["dataset:nba_raw.*"], agents: ["agent-1", "agent-2"])] }
        let base: Millis = 1_769_100_000_000
        _ = try await collector.post(makeTestReport(seqs: 1...25, at: base))
        let fleet = try collector.runtime.tokens.issue(kind: .fleet, agentID: nil, name: "f", now: 0).token
        _ = try await collector.post(makeTestReport(agent: "agent-2", seqs: 1...5, at: base), token: fleet)

        var all: [TimelineEntry] = []
        var cursor: String?
        repeat {
            let p = try await page("subject=dataset:nba_raw.bdl_player_boxscores&agent=agent-1&limit=10" + (cursor.map { "&cursor=\($0)" } ?? ""))
            all += p.observations
            cursor = p.nextCursor
        } while cursor != nil
        XCTAssertEqual(all.map(\.observation.seq), Array(1...25))
        XCTAssertTrue(all.allSatisfy { $0.agentID == "agent-1" })

        let ranged = try await page("from=\(base + 3000)&to=\(base + 6000)&agent=agent-1")
        XCTAssertEqual(ranged.observations.map(\.observation.seq), [3, 4, 5])
        let rfc = try await page("from=2026-01-22T16:40:03Z&to=2026-01-22T16:40:06Z&agent=agent-1")
        XCTAssertEqual(rfc.observations.map(\.observation.seq), [3, 4, 5], "RFC 3339 times work like ms")
        let heartbeats = try await page("kind=heartbeat")
        XCTAssertEqual(heartbeats.observations.count, 0)
        let counts = try await page("kind=count")
        XCTAssertEqual(counts.observations.count, 30)
        let unknown = try await page("subject=dataset:unknown")
        XCTAssertEqual(unknown.observations.count, 0)
    }

    func testBadTimelineQueriesAre400() async throws {
        for (query, field) in [
            ("from=2000&to=1000", "from"), ("limit=0", "limit"), ("limit=5000", "limit"), ("kind=nope", "kind"),
            ("cursor=garbage", "cursor"), ("from=yesterday", "from"), ("bogus=1", "bogus"),
        ] {
            let response = try await collector.send("GET", "/v1/timeline?\(query)", token: collector.adminToken)
            XCTAssertEqual(response.status, 400, query)
            let error = try decodeError(response)
            XCTAssertEqual(error.error, "bad_request", query)
            XCTAssertEqual(error.field, field, query)
        }
    }

    func testUnknownEndpointIs404WithAnErrorBody() async throws {
        let response = try await collector.send("GET", "/v1/nothing-here", token: collector.adminToken)
        XCTAssertEqual(response.status, 404)
        XCTAssertEqual(try decodeError(response).error, "not_found")
    }

    func testHealthzNeedsNoToken() async throws {
        let response = try await collector.send("GET", "/healthz", token: nil)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "{\"status\":\"ok\"}")
    }

    func testTokenFileIsOwnerOnlyAndTheDatabaseHoldsNoSecret() async throws {
        let path = collector.runtime.config.effectiveTokenFile
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertTrue(collector.adminToken.hasPrefix("gw_admin_"))
        XCTAssertTrue(collector.agentToken.hasPrefix("gw_agent_"))
        try collector.database.checkpoint()
        let dbBytes = try Data(contentsOf: URL(fileURLWithPath: collector.runtime.config.databasePath))
        XCTAssertNil(dbBytes.range(of: Data(collector.adminToken.utf8)), "tokens are stored hashed")
    }

    func testAdminIssuesListsAndRevokesTokensAndRevocationIsImmediate() async throws {
        let create = try await collector.send(
            "POST", "/v1/tokens", token: collector.adminToken, headers: [("Content-Type", "application/json")],
            body: Array(#"{"kind":"agent","agent_id":"agent-9","name":"scraper box"}"#.utf8))
        XCTAssertEqual(create.status, 201, create.bodyText)
        let issued = try ReportCodec.decode(IssuedToken.self, from: create.body)
        XCTAssertEqual(issued.info.agentID, "agent-9")

        let ok = try await collector.post(makeTestReport(agent: "agent-9", seqs: 1...1), token: issued.token)
        XCTAssertEqual(ok.status, 200)

        let list = try await collector.send("GET", "/v1/tokens", token: collector.adminToken)
        XCTAssertEqual(list.status, 200)
        XCTAssertFalse(list.bodyText.contains(issued.token), "listing never shows secrets")
        XCTAssertTrue(list.bodyText.contains(issued.info.id))

        let revoke = try await collector.send("DELETE", "/v1/tokens/\(issued.info.id)", token: collector.adminToken)
        XCTAssertEqual(revoke.status, 204)
        let after = try await collector.post(makeTestReport(agent: "agent-9", seqs: 2...2), token: issued.token)
        XCTAssertEqual(after.status, 401, "a revoked token stops working at once")
        let other = try await collector.post(makeTestReport(seqs: 1...1))
        XCTAssertEqual(other.status, 200, "agents using other tokens carry on")

        let again = try await collector.send("DELETE", "/v1/tokens/\(issued.info.id)", token: collector.adminToken)
        XCTAssertEqual(again.status, 404)
    }

    func testTokenCallsNeedTheAdminTokenAndValidInput() async throws {
        let asAgent = try await collector.send("GET", "/v1/tokens", token: collector.agentToken)
        XCTAssertEqual(asAgent.status, 403)
        for body in [#"{"kind":"agent"}"#, #"{"kind":"superuser"}"#, #"{"kind":"fleet","agent_id":"x"}"#, "nope"] {
            let response = try await collector.send(
                "POST", "/v1/tokens", token: collector.adminToken, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
            XCTAssertEqual(response.status, 400, body)
        }
        XCTAssertEqual(try collector.runtime.tokens.list().count, 2, "refused requests create nothing")
    }
}

extension Observation: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(seq) }
}
