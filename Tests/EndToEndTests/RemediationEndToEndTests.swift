import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Self-healing with our binaries as processes: an agent reports raw and analytics counts, the
/// collector finds the gap, calls a fake analytics service on 127.0.0.1 (the test's receiver),
/// and verifies the heal from the counts the agent reports afterwards.
final class RemediationEndToEndTests: CollectorTestCase {
    var service: NotifyReceiver!

    override func setUp() async throws {
        try await super.setUp()
        service = try await NotifyReceiver.start()
    }

    override func tearDown() {
        service.stop()
        super.tearDown()
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    func push(_ dataset: String, _ counts: [(String, Int64)], client: HTTPClient) throws {
        for (partition, count) in counts {
            _ = try agent.push(.count(Count(dataset: dataset, partition: partition, count: count)), client: client)
        }
    }

    func actions() throws -> [ActionInfo] {
        struct List: Decodable { var actions: [ActionInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/actions").body).actions
    }

    func testMissingAnalyticsRowsAreBackfilledOnceAsOneRangeThenVerified() throws {
        // A day boundary during the test would change the dates: skip the last minute of a UTC day.
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 120_000 { sleep(125) }
        collector.extraConfig = """
            completeness:
              - {name: boxscores, source: nba_raw.bdl_player_boxscores, derived: nba_analytics.player_game_summary, due_after: 0s, lookback: 3d, settle: 0s, backfill: backfill}
            actions:
              - {name: backfill, kind: webhook, url: "\(service.base)/ok", body: '{"start":"{start}","end":"{end}"}', cooldown: 0s}
            """
        try collector.start()
        try agent.start()
        let client = HTTPClient()
        // Jan 22 again: one date with no analytics rows at all, one at 85%, one complete.
        try push("nba_raw.bdl_player_boxscores", [(day(2), 282), (day(1), 300), (day(0), 310)], client: client)
        try push("nba_analytics.player_game_summary", [(day(1), 255), (day(0), 310)], client: client)
        try waitFor("the backfill call", timeout: 30) { !service.requests.isEmpty }
        sleep(2)
        XCTAssertEqual(service.requests.count, 1, "one call")
        let body = try JSONDecoder().decode([String: String].self, from: Data(service.requests[0].body))
        XCTAssertEqual(body, ["start": day(2), "end": day(1)], "the merged range")
        XCTAssertEqual(try actions().first?.state, "verifying")

        // The analytics service writes the rows; the agent reports the new counts.
        try push("nba_analytics.player_game_summary", [(day(2), 282), (day(1), 300)], client: client)
        try waitFor("the action to be verified", timeout: 30) { try actions().first?.state == "verified" }
        // The action runner verifies from the counts; the incident resolves at the detector's
        // next evaluation of the same counts, a separate loop, so it may trail by one pass.
        struct Incidents: Decodable { var incidents: [IncidentInfo] }
        func incidents() throws -> [IncidentInfo] { try ReportCodec.decode(Incidents.self, from: try collector.get("/v1/incidents").body).incidents }
        try waitFor("the incident to resolve", timeout: 15) { try incidents().map(\.state) == ["resolved"] }
        XCTAssertEqual(service.requests.count, 1, "no further calls")
        // The CLI shows it without the person typing a key (token file beside the database).
        let out = try runCommand(
            Binaries.gapwatch, ["incidents", "--state", "resolved"],
            environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
        XCTAssertTrue(out.output.contains("completeness"), out.output)
    }
}

/// The same heal through an agent command: the collector hands `backfill` to the agent in a
/// report response, the agent runs it from its allow-list (argv, no shell of ours), and reports
/// the outcome; a repeated hand-off runs once; a command the agent does not allow is refused.
final class AgentCommandEndToEndTests: CollectorTestCase {
    var marker: String { workspace.file("backfill-runs.txt") }

    override func setUpWithError() throws {
        // Commands ride on report responses: a heartbeat each second keeps reports coming.
        agent.heartbeatInterval = "1s"
        collector.extraConfig = """
            completeness:
              - {name: boxscores, source: raw, derived: analytics, due_after: 0s, lookback: 3d, settle: 0s, backfill: backfill}
            actions:
              - {name: backfill, kind: agent, agent: e2e-agent, command: backfill, parameters: {start: "{start}", end: "{end}"}, cooldown: 0s}
              - {name: drop, kind: agent, agent: e2e-agent, command: drop-tables, parameters: {start: "{start}"}, max_attempts: 3}
            """
        agent.extraConfig = """
            actions:
              - name: backfill
                argv: ["/bin/sh", "-c", "echo \\"$1..$2\\" >> \(marker); echo backfilled $1..$2", "sh", "{start}", "{end}"]
                parameters: {start: date, end: date}
                timeout: 30s
            """
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    func runs() -> [String] {
        ((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func action(_ id: String) throws -> ActionInfo {
        try ReportCodec.decode(ActionInfo.self, from: try collector.get("/v1/actions/\(id)").body)
    }

    func testAgentRunsTheBackfillOnceAndTheHealIsVerified() throws {
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 120_000 { sleep(125) }
        try collector.start()
        try agent.start()
        let client = HTTPClient()
        for (dataset, count) in [("raw", Int64(300)), ("analytics", Int64(100))] {
            _ = try agent.push(.count(Count(dataset: dataset, partition: day(1), count: count)), client: client)
        }
        try waitFor("the agent to run the backfill", timeout: 30) { runs().count == 1 }
        XCTAssertEqual(runs(), ["\(day(1))..\(day(1))"])
        struct List: Decodable { var actions: [ActionInfo] }
        let id = try XCTUnwrap(try ReportCodec.decode(List.self, from: try collector.get("/v1/actions").body).actions.first?.id)
        try waitFor("the agent's result to reach the collector", timeout: 30) { try action(id).state == "verifying" }
        let ran = try action(id).detail
        XCTAssertTrue(ran.contains("backfilled \(day(1))..\(day(1))"), ran)

        // A lost response: the collector hands the same command again. The agent must not re-run it.
        let database = try AppDatabase(StorageOptions(path: collector.database))
        try database.pool.write { db in
            let command = AgentCommand(actionID: id, name: "backfill", parameters: ["start": day(1), "end": day(1)])
            try db.execute(
                sql: "INSERT INTO agent_commands (action_id, agent_id, command) VALUES (?, 'e2e-agent', ?)",
                arguments: [id, String(decoding: ReportCodec.encode(command), as: UTF8.self)])
        }
        _ = try agent.push(.count(Count(dataset: "other", partition: day(0), count: 1)), client: client)  // a report, so a response
        try waitFor("the command to be handed again", timeout: 30) {
            try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agent_commands WHERE handed_at IS NOT NULL") } == 1
        }
        sleep(3)
        XCTAssertEqual(runs().count, 1, "a command handed twice runs once")

        // The analytics rows arrive: verified.
        _ = try agent.push(.count(Count(dataset: "analytics", partition: day(1), count: 300)), client: client)
        try waitFor("verification", timeout: 30) { try action(id).state == "verified" }
    }

    func testACommandTheAgentDoesNotAllowIsRefusedAndReported() throws {
        try collector.start()
        try agent.start()
        let r = try HTTPClient().send(
            .init(
                method: "POST", url: collector.url + "/v1/backfills",
                headers: [("Authorization", "Bearer \(try collector.token("GAPWATCH_ADMIN_TOKEN"))"), ("Content-Type", "application/json")],
                body: Array(#"{"action":"drop","start":"2026-01-20","end":"2026-01-20"}"#.utf8)))
        XCTAssertEqual(r.status, 202, r.bodyText)
        let id = try ReportCodec.decode(ActionInfo.self, from: r.body).id
        // The agent only receives commands in report responses: give it something to report.
        _ = try agent.push(.count(Count(dataset: "other", partition: "2026-01-20", count: 1)), client: HTTPClient())
        try waitFor("the refusal to come back", timeout: 30) { try action(id).state == "escalated" }
        let refused = try action(id)
        XCTAssertTrue(refused.detail.contains("rejected"), refused.detail)
        XCTAssertTrue(refused.detail.contains("drop-tables"), refused.detail)
        XCTAssertEqual(refused.attempts, 1, "a refused command is not retried")
        XCTAssertEqual(runs(), [], "nothing ran")
    }
}
