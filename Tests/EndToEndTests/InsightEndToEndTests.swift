import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// The incident-time commands (`status`, `gaps`, `stale`, `decisions`, `timeline SUBJECT`) as a
/// person runs them: our binaries as processes, data pushed through an agent.
final class InsightEndToEndTests: CollectorTestCase {
    override func setUpWithError() throws {
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 120_000 { sleep(125) }
    }

    func day(_ ago: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(ago) * 86_400_000).prefix(10)) }

    func cli(_ arguments: [String]) throws -> String {
        let result = try runCommand(
            Binaries.gapwatch, arguments,
            environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.output)")
        return result.output
    }

    func testOneCommandPerQuestionDuringAnIncident() throws {
        collector.extraConfig = """
            completeness:
              - {name: boxscores, source: nba_raw.bdl_player_boxscores, derived: nba_analytics.player_game_summary, due_after: 0s, lookback: 3d, settle: 0s, backfill: backfill}
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h}
            actions:
              - {name: backfill, kind: webhook, url: "http://127.0.0.1:9/backfill", mode: approval}
            """
        try collector.start()
        try agent.start()
        let client = HTTPClient()
        let now = WallClock.nowMillis()
        let pushes: [ObservationBody] = [
            .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: day(1), count: 300)),
            .count(Count(dataset: "nba_analytics.player_game_summary", partition: day(1), count: 18)),
            .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: day(0), count: 310)),
            .count(Count(dataset: "nba_analytics.player_game_summary", partition: day(0), count: 310)),
            .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500610", status: "In Progress", referenceTime: now - 5 * 3_600_000)),
            .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .skip, reason: "3 games not Final")),
            .decision(WorkflowDecision(workflow: "morning_ops", decision: .run)),
        ]
        for body in pushes { _ = try agent.push(body, client: client) }
        var last = ""
        do {
            try waitFor("the incident", timeout: 30) {
                last = try self.cli(["status"])
                return last.contains("2 open (1 completeness, 1 stale_items)")
            }
        } catch {
            XCTFail("status said:\n\(last)")
            throw error
        }

        let status = try cli(["status"])
        XCTAssertTrue(status.contains("agents      1 reporting, 0 down"), status)
        XCTAssertTrue(status.contains("completeness:boxscores:backfill"), status)

        let gaps = try cli(["gaps", "--days", "2"])
        let lines = gaps.split(separator: "\n").map(String.init)
        XCTAssertTrue(
            lines.contains {
                $0.hasPrefix(day(1)) && $0.contains("300") && $0.contains("18") && $0.contains("282") && $0.contains("6.0%") && $0.contains("healing")
            }, gaps)
        XCTAssertTrue(
            lines.contains { $0.hasPrefix(day(0)) && $0.contains("100.0%") && $0.contains("not due (until") }, "today is still filling: " + gaps)

        let stale = try cli(["stale"])
        XCTAssertTrue(stale.contains("In Progress: 1") && stale.contains("game/0022500610"), stale)

        let decisions = try cli(["decisions", "--workflow", "post_game*", "--since", "1h"])
        XCTAssertTrue(decisions.contains("post_game_window_1") && decisions.contains("SKIP") && decisions.contains("3 games not Final"), decisions)
        XCTAssertFalse(decisions.contains("morning_ops"), decisions)

        let story = try cli(["timeline", "dataset:nba_analytics.player_game_summary"])
        XCTAssertTrue(story.contains("count") && story.contains("\(day(1)) = 18"), story)
        XCTAssertTrue(story.contains("incident") && story.contains("opened"), story)
        XCTAssertTrue(story.contains("action") && story.contains("queued backfill"), story)

        let catchUp = try cli(["catch-up", "--wait", "--timeout", "30s"])
        XCTAssertTrue(catchUp.contains("re-evaluating 2 completeness and stale-item checks now"), catchUp)
        XCTAssertTrue(catchUp.contains("evaluated 2 / 2 rules"), catchUp)
        XCTAssertTrue(catchUp.contains("done: 0 actions queued"), "the backfill is already in flight: nothing new\n\(catchUp)")

        let json = try cli(["gaps", "--json"])
        let report = try ReportCodec.decode(GapReport.self, from: Array(json.utf8))
        XCTAssertEqual(report.checks.first?.days.count, 7)
    }
}
