import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Self-healing with our binaries as processes: an agent reports raw and analytics counts, the
/// collector finds the gap, calls a fake analytics service on 127.0.0.1 (the test's receiver),
/// and verifies the heal from the counts the agent reports afterwards.
final class RemediationEndToEndTests: XCTestCase {
    var workspace: Workspace!
    var collector: CollectorProcess!
    var agent: AgentProcess!
    var service: NotifyReceiver!

    override func setUp() async throws {
        try Binaries.check()
        workspace = try Workspace(name)
        service = try await NotifyReceiver.start()
        collector = CollectorProcess(workspace: workspace)
        agent = AgentProcess(workspace: workspace, collectorURL: collector.url, tokenFile: collector.tokenFile)
    }

    override func tearDown() {
        agent.child?.terminate()
        collector.child?.terminate()
        service.stop()
        workspace.finish(self)
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
              - {name: boxscores, source: nba_raw.bdl_player_boxscores, derived: nba_analytics.player_game_summary, lookback: 3d, settle: 0s, backfill: backfill}
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
        struct Incidents: Decodable { var incidents: [IncidentInfo] }
        let incidents = try ReportCodec.decode(Incidents.self, from: try collector.get("/v1/incidents").body).incidents
        XCTAssertEqual(incidents.map(\.state), ["resolved"])
        XCTAssertEqual(service.requests.count, 1, "no further calls")
        // The CLI shows it without the person typing a key (token file beside the database).
        let out = try runCommand(Binaries.gapwatch, ["incidents", "--state", "resolved"], environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
        XCTAssertTrue(out.output.contains("completeness"), out.output)
    }
}
